"""Running one attempt of a job and turning what happened into an `Outcome`.

This is where retry policy is decided, once for every store: stores only
apply the outcome.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.context import JobContext, _current
from conveyor.errors import ConveyorError, DecodeError, EncodeError, UnknownTask
from conveyor.job import ErrorInfo, JobRecord, JobState, Outcome, Reason
from conveyor.retry import backoff_delay, should_retry
from conveyor.worker._children import Call, ChildDied, ChildPool, Raised, Returned, Stopped

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.task import Task

#: Tracebacks beyond this many characters keep their end (where the error is).
MAX_TRACEBACK = 8000


class AttemptTimeout(ConveyorError, TimeoutError):
    """The attempt ran past the task's ``timeout``."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A claimed job whose task was found and whose arguments bind."""

    record: JobRecord
    task: Task[Any, Any]
    args: list[Any]
    kwargs: dict[str, Any]

    @property
    def timeout(self) -> float | None:
        return self.record.timeout

    def context(self) -> JobContext:
        record = self.record
        return JobContext(record.id, record.task, record.queue, record.attempt, record.max_attempts)


def error_info(record: JobRecord, exc: BaseException, text: str | None = None) -> ErrorInfo:
    if text is None:
        text = "".join(traceback.format_exception(exc))
    if len(text) > MAX_TRACEBACK:
        text = "...\n" + text[-MAX_TRACEBACK:]
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    return ErrorInfo(attempt=record.attempt, type=name, message=str(exc), traceback=text)


def dead(record: JobRecord, reason: Reason, exc: BaseException, text: str | None = None) -> Outcome:
    return Outcome(
        job_id=record.id,
        attempt=record.attempt,
        state=JobState.DEAD,
        error=error_info(record, exc, text),
        reason=reason.value,
    )


class Executor:
    """Prepares, runs and judges attempts for one app."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app

    def prepare(self, record: JobRecord) -> Prepared | Outcome:
        """Find the task and decode the payload; a job that cannot run ends dead here."""
        try:
            task = self.app.get_task(record.task)
        except UnknownTask as exc:
            return dead(record, Reason.UNKNOWN_TASK, exc)
        try:
            args, kwargs = self.app.codec.decode_payload(record.payload)
        except DecodeError as exc:
            return dead(record, Reason.DECODE_ERROR, exc)
        try:
            task.check_arguments(args, kwargs)
        except TypeError as exc:
            return dead(record, Reason.BAD_ARGUMENTS, TypeError(f"{task.name}: {exc}"))
        return Prepared(record, task, args, kwargs)

    def run_sync(self, job: Prepared, context: JobContext) -> Outcome:
        """Run a sync task in the calling thread.

        A thread cannot be stopped from outside, so a sync task's timeout is
        judged when it returns: an attempt that overran fails with reason
        ``timeout`` and its result is dropped. (`run_in_child` is hard.)
        """
        started = time.monotonic()
        token = _current.set(context)
        try:
            value = job.task.fn(*job.args, **job.kwargs)
        except Exception as exc:
            return self.failure(job, exc)
        finally:
            _current.reset(token)
        if job.timeout is not None and time.monotonic() - started > job.timeout:
            return self.failure(job, AttemptTimeout(f"ran past its {job.timeout} s timeout"))
        return self.success(job, value)

    async def run_async(self, job: Prepared, context: JobContext) -> Outcome:
        """Run an async task; its timeout is hard (the coroutine is cancelled).
        A cancel of its job cancels it too: `asyncio.CancelledError` propagates."""
        _current.set(context)  # this asyncio task's own context
        try:
            value = await asyncio.wait_for(job.task.fn(*job.args, **job.kwargs), job.timeout)
        except TimeoutError as exc:
            if job.timeout is not None and not isinstance(exc, AttemptTimeout):
                exc = AttemptTimeout(f"cancelled at its {job.timeout} s timeout")
            return self.failure(job, exc)
        except Exception as exc:
            return self.failure(job, exc)
        return self.success(job, value)

    def run_in_child(self, job: Prepared, context: JobContext, pool: ChildPool) -> Outcome | None:
        """Run a sync task in a child process: killed at its timeout (a failed
        attempt, reason ``timeout``) or when its job is cancelled (None: there
        is no outcome to store)."""
        record, fn = job.record, job.task.fn
        call = Call(
            fn.__module__, fn.__qualname__, job.args, job.kwargs,
            record.id, record.task, record.queue, record.attempt, record.max_attempts,
        )  # fmt: skip
        try:
            answer = pool.run(call, job.timeout, lambda: context.cancelled)
        except EncodeError as exc:
            return dead(record, Reason.RESULT_ENCODE_ERROR, exc)
        except (ChildDied, OSError) as exc:
            return self.failure(job, exc)
        if isinstance(answer, Stopped):
            if not answer.timed_out:
                return None
            return self.failure(job, AttemptTimeout(f"killed at its {job.timeout} s timeout"))
        if isinstance(answer, Raised):
            return self.failure(job, answer.exception, answer.traceback)
        assert isinstance(answer, Returned)
        return self.encoded_success(job, answer.result)

    def success(self, job: Prepared, value: Any) -> Outcome:
        try:
            result = self.app.codec.encode_result(value)
        except EncodeError as exc:
            return dead(job.record, Reason.RESULT_ENCODE_ERROR, exc)
        return self.encoded_success(job, result)

    def encoded_success(self, job: Prepared, result: str) -> Outcome:
        return Outcome(
            job_id=job.record.id,
            attempt=job.record.attempt,
            state=JobState.SUCCEEDED,
            result=result,
        )

    def failure(self, job: Prepared, exc: BaseException, text: str | None = None) -> Outcome:
        """`text`: the traceback as the child process that raised `exc` saw it."""
        record, opts = job.record, job.task.default_options
        timed_out = isinstance(exc, AttemptTimeout)
        if not should_retry(exc, opts.retry_on, opts.no_retry_on):
            return dead(record, Reason.NOT_RETRIED, exc, text)
        if record.attempt >= record.max_attempts:
            reason = Reason.TIMEOUT if timed_out else Reason.MAX_ATTEMPTS
            return dead(record, reason, exc, text)
        return Outcome(
            job_id=record.id,
            attempt=record.attempt,
            state=JobState.SCHEDULED,
            error=error_info(record, exc, text),
            delay=backoff_delay(opts.backoff, record.attempt),
            reason=Reason.TIMEOUT.value if timed_out else None,
        )
