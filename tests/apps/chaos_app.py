"""The app the chaos test's workers run: ``tests.apps.chaos_app:app``.

Its store is ``$CONVEYOR_URL`` and its lease ``$CONVEYOR_CHAOS_LEASE`` seconds.
Each task notes the start and the end of every execution in a ledger file
outside conveyor: one ``os.write`` per line on an ``O_APPEND`` descriptor, so
every line written before a SIGKILL is in the file afterwards. A line reads

    start|end JOB PID MONOTONIC WALL

where ``MONOTONIC`` is ``time.monotonic()``: one clock for every process on
the machine, so the test can compare it with the times of its own kills.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

from conveyor import Conveyor

LEASE_ENV = "CONVEYOR_CHAOS_LEASE"

#: High enough that no job runs out of attempts to the kills alone: a worker
#: killed at random is not a job that kills its worker, and the test counts a
#: dead job as lost. The poison-job limit has its own test.
MAX_ATTEMPTS = 50

_ledgers: dict[str, int] = {}
_ledgers_lock = threading.Lock()


def note(ledger: str, event: str, job: int) -> None:
    """Append one ``event job pid monotonic wall`` line to the ledger."""
    with _ledgers_lock:
        fd = _ledgers.get(ledger)
        if fd is None:
            fd = _ledgers[ledger] = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    line = f"{event} {job} {os.getpid()} {time.monotonic():.6f} {time.time():.6f}\n"
    os.write(fd, line.encode())


def sync_job(job: int, seconds: float, ledger: str) -> int:
    """Sleep `seconds` on a worker thread."""
    note(ledger, "start", job)
    time.sleep(seconds)
    note(ledger, "end", job)
    return job


async def async_job(job: int, seconds: float, ledger: str) -> int:
    """Sleep `seconds` on the worker's event loop."""
    note(ledger, "start", job)
    await asyncio.sleep(seconds)
    note(ledger, "end", job)
    return job


def register(app: Conveyor) -> Conveyor:
    app.task(name="chaos.sync", max_attempts=MAX_ATTEMPTS)(sync_job)
    app.task(name="chaos.async", max_attempts=MAX_ATTEMPTS)(async_job)
    return app


app = register(Conveyor(lease=float(os.environ.get(LEASE_ENV, "2"))))
