"""The exceptions conveyor raises, one hierarchy under `ConveyorError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conveyor.job import ErrorInfo, JobRecord


class ConveyorError(Exception):
    """Base of every error conveyor raises on purpose."""


class EncodeError(ConveyorError, TypeError):
    """A value (arguments or a result) cannot be written as JSON."""


class DecodeError(ConveyorError, ValueError):
    """A stored payload or result is not the JSON conveyor wrote."""


class StoreError(ConveyorError):
    """The store is unreachable, unwritable or refused an operation."""


class UnknownTask(ConveyorError, LookupError):
    """No task of that name is registered with the app."""


class JobFailed(ConveyorError):
    """The job ended ``dead`` or ``cancelled``: raised by `Job.result`."""

    def __init__(self, record: JobRecord) -> None:
        self.record = record
        self.job_id = record.id
        self.state = record.state
        self.reason = record.reason
        self.error: ErrorInfo | None = record.errors[-1] if record.errors else None
        detail = f": {self.error.type}: {self.error.message}" if self.error else ""
        super().__init__(
            f"job {record.id} ({record.task}) {record.state} [{record.reason}]{detail}"
        )
