"""Several worker processes under one parent that restarts any that die.

Each child is a whole ``conveyor worker`` process with its own store
connections, so one child's crash (or a SIGKILL) costs only its own leases,
which the others recover. The parent forwards SIGTERM and SIGINT; a child that
exits with status 0 (burst mode, or a clean stop) is not restarted, and one
that exits with `RECYCLE_STATUS` (it reached ``--max-jobs`` or
``--max-memory``) is replaced at once: it asked to be, so it is no crash.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from conveyor.worker._worker import RECYCLE_STATUS, SUPERVISOR_ENV

log = logging.getLogger("conveyor.supervisor")

#: A child that dies sooner than this after its start counts as crash-looping.
QUICK_DEATH = 5.0


def _spawn(command: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(command), env={**os.environ, SUPERVISOR_ENV: str(os.getpid())})


@dataclass(slots=True)
class _Child:
    slot: int
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


def supervise(command: Sequence[str], processes: int, *, shutdown_timeout: float = 25.0) -> int:
    """Keep `processes` copies of `command` running until all exit 0 or a signal stops them.

    Returns 0 after a clean stop, 1 when children kept dying at start
    (a broken app or an unreachable store: restarting cannot help).
    """
    signals_seen = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        for child in children.values():
            if child.process.poll() is None:
                child.process.send_signal(signum)

    children = {slot: _Child(slot, _spawn(command)) for slot in range(processes)}
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    quick_deaths = 0
    status = 0
    try:
        while children:
            time.sleep(0.1)
            for slot, child in list(children.items()):
                code = child.process.poll()
                if code is None:
                    continue
                del children[slot]
                if code == 0 or signals_seen:
                    continue
                if code == RECYCLE_STATUS:
                    log.info(
                        "worker process %d asked to be replaced (exit status %d); "
                        "starting a new one",
                        child.process.pid, code,
                    )  # fmt: skip
                    children[slot] = _Child(slot, _spawn(command))
                    continue
                lived = time.monotonic() - child.started
                quick_deaths = quick_deaths + 1 if lived < QUICK_DEATH else 0
                if quick_deaths >= 3 * processes:
                    log.error("worker processes keep exiting at start (last status %d)", code)
                    status = 1
                    on_signal(signal.SIGTERM, None)
                    continue
                log.warning(
                    "worker process %d exited with status %d; starting a new one",
                    child.process.pid, code,
                )  # fmt: skip
                time.sleep(min(5.0, 0.2 * quick_deaths))
                children[slot] = _Child(slot, _spawn(command))
    finally:
        deadline = time.monotonic() + shutdown_timeout + 5.0
        for child in children.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                child.process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
