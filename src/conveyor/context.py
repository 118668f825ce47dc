"""`current_job()`: what a running task can learn about its own job."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class JobContext:
    """The job an attempt belongs to. `cancelled` turns True when the job is
    cancelled while it runs, so a long sync task can stop at a safe point.

    One is made per attempt, on the worker's hot path: the flag is a plain
    attribute (one writer, readers that poll), not a `threading.Event`,
    which cost about as much as the rest of the context."""

    id: str
    task: str
    queue: str
    attempt: int
    max_attempts: int
    _cancelled: bool = field(default=False, repr=False)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def mark_cancelled(self) -> None:
        """The worker's call when the job is cancelled (or its lease lost)."""
        self._cancelled = True


_current: ContextVar[JobContext | None] = ContextVar("conveyor_current_job", default=None)


def current_job() -> JobContext:
    """The job whose attempt is running here; `LookupError` outside one."""
    context = _current.get()
    if context is None:
        raise LookupError("current_job() is only known inside a task run by a worker")
    return context
