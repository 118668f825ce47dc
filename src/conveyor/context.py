"""`current_job()`: what a running task can learn about its own job."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class JobContext:
    """The job an attempt belongs to. `cancelled` turns True when the job is
    cancelled while it runs, so a long sync task can stop at a safe point."""

    id: str
    task: str
    queue: str
    attempt: int
    max_attempts: int
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


_current: ContextVar[JobContext | None] = ContextVar("conveyor_current_job", default=None)


def current_job() -> JobContext:
    """The job whose attempt is running here; `LookupError` outside one."""
    context = _current.get()
    if context is None:
        raise LookupError("current_job() is only known inside a task run by a worker")
    return context
