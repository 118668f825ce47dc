"""The app the worker process tests run: ``tests.apps.worker_app:app``.

Its store is ``$CONVEYOR_URL`` and its lease ``$CONVEYOR_TEST_LEASE`` seconds,
both set per test. Tasks do what their arguments say and append what they did
to a file with one ``os.write`` on an ``O_APPEND`` descriptor per line, so
every line written before a SIGKILL is there afterwards.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from conveyor import Conveyor

LEASE_ENV = "CONVEYOR_TEST_LEASE"


def note(log: str, event: str, job: int) -> None:
    """Append ``<event> <job> <pid>`` to the file at `log`."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {job} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def work(job: int, seconds: float, log: str) -> int:
    """Sleep `seconds`, noting the start and the end."""
    note(log, "start", job)
    time.sleep(seconds)
    note(log, "end", job)
    return job


def kill_worker(job: int, log: str) -> None:
    """Kill the worker process running it, as a segfaulting extension would."""
    note(log, "start", job)
    os.kill(os.getpid(), signal.SIGKILL)


def stamp(job: int, log: str) -> None:
    """Note the time it started (for rate limits), with the worker's pid."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{time.time()!r} {job} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def register(app: Conveyor) -> Conveyor:
    app.task(name="work")(work)
    app.task(name="kill_worker", backoff=0)(kill_worker)
    app.task(name="limited", rate_limit="5/s")(stamp)
    return app


app = register(Conveyor(lease=float(os.environ.get(LEASE_ENV, "2"))))


@dataclass(frozen=True)
class Event:
    event: str
    job: int
    pid: int


def read_log(log: Path) -> list[Event]:
    """The lines `note` wrote, in order."""
    if not log.exists():
        return []
    events = []
    for line in log.read_text().splitlines():
        event, job, pid = line.split()
        events.append(Event(event, int(job), int(pid)))
    return events
