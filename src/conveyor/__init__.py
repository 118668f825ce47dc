"""conveyor: background jobs for Python.

from conveyor import Conveyor

app = Conveyor()                # ./conveyor.db, or $CONVEYOR_URL

@app.task(max_attempts=5)
def send_email(to: str, subject: str) -> str: ...

job = send_email.enqueue("a@example.com", subject="hi")
app.run_worker(burst=True)
job.result(timeout=10)
"""

from typing import TYPE_CHECKING, Any

from conveyor.app import Conveyor, Settings
from conveyor.context import JobContext, current_job
from conveyor.errors import (
    ConveyorError,
    DecodeError,
    EncodeError,
    JobFailed,
    StoreError,
    UnknownTask,
)
from conveyor.job import ErrorInfo, Job, JobRecord, JobState, Reason
from conveyor.retry import Backoff
from conveyor.task import Task

if TYPE_CHECKING:
    from conveyor.worker import Worker, WorkerStats

__version__ = "0.1.0"

__all__ = [
    # the app and its tasks
    "Backoff",
    "Conveyor",
    "Settings",
    "Task",
    # jobs
    "JobContext",
    "current_job",
    "ErrorInfo",
    "Job",
    "JobRecord",
    "JobState",
    "Reason",
    # workers
    "Worker",
    "WorkerStats",
    # errors
    "ConveyorError",
    "DecodeError",
    "EncodeError",
    "JobFailed",
    "StoreError",
    "UnknownTask",
]


def __getattr__(name: str) -> Any:
    """`Worker` and `WorkerStats` are imported on first use: a process that
    only enqueues (a web application) never loads the worker's threads,
    event loop and child processes, which are half of ``import conveyor``."""
    if name in ("Worker", "WorkerStats"):
        from conveyor import worker

        return getattr(worker, name)
    raise AttributeError(f"module 'conveyor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
