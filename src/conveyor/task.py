"""Tasks: a decorated function, its options, and the ways to enqueue it."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from conveyor._ids import new_id, new_ids
from conveyor.job import Job, NewJob
from conveyor.limits import LimitKey, TaskLimits
from conveyor.retry import DEFAULT_BACKOFF, BackoffPolicy

if TYPE_CHECKING:
    from conveyor.app import Conveyor

P = ParamSpec("P")
R = TypeVar("R")

#: A unique key, or a function of the task's arguments that returns one.
KeySpec = str | Callable[..., str] | None
Delay = float | int | timedelta


@dataclasses.dataclass(frozen=True, slots=True)
class TaskOptions:
    """Options of a task; `Task.options` overrides the enqueue-time ones per call."""

    queue: str = "default"
    priority: int = 0
    max_attempts: int = 3
    timeout: float | None = None
    backoff: BackoffPolicy = DEFAULT_BACKOFF
    retry_on: tuple[type[BaseException], ...] | None = None
    no_retry_on: tuple[type[BaseException], ...] = ()
    delay: Delay = 0.0
    at: datetime | None = None
    key: KeySpec = None
    #: Store-wide limits: ``"100/m"``; at most N running; bucket per key.
    rate_limit: str | None = None
    concurrency: int | None = None
    limit_key: LimitKey | None = None
    #: Topics whose `Conveyor.publish` makes a job of this task.
    topics: tuple[str, ...] = ()
    #: Run each attempt of this sync task in a child process: its timeout is
    #: then hard, and a cancel stops it.
    process: bool = False

    def __post_init__(self) -> None:
        if not self.queue:
            raise ValueError("queue must be a non-empty string")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout must be positive seconds or None")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at must be a timezone-aware datetime (naive times are ambiguous)")
        if _seconds(self.delay) < 0:
            raise ValueError("delay must not be negative")
        topics: object = self.topics
        if isinstance(topics, str):
            raise TypeError("topics is a list of topic names, not one string")


#: Options that only shape an enqueue; the rest are fixed per task.
ENQUEUE_OPTIONS = frozenset({"queue", "priority", "max_attempts", "timeout", "delay", "at", "key"})


def _plain_arity(signature: inspect.Signature) -> int | None:
    """The number of parameters when every one is positional-or-keyword with
    no default: then a call binds exactly when it passes that many positionally."""
    params = signature.parameters.values()
    if all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params):
        return len(signature.parameters)
    return None


def _seconds(delay: Delay) -> float:
    return delay.total_seconds() if isinstance(delay, timedelta) else float(delay)


class Task(Generic[P, R]):
    """A registered function. Calling it runs it here and now; `enqueue` makes a job."""

    def __init__(self, app: Conveyor, fn: Callable[P, R], name: str, options: TaskOptions) -> None:
        self.app = app
        self.fn = fn
        self.name = name
        self.default_options = options
        self.signature = inspect.signature(fn)
        #: Calls with exactly this many positional arguments and no keywords
        #: bind without `Signature.bind` (None: always bind).
        self.plain_arity = _plain_arity(self.signature)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.limits = TaskLimits.of(
            name, options.rate_limit, options.concurrency, options.limit_key
        )
        if options.process:
            if self.is_async:
                raise ValueError(f"{name}: process=True is for sync tasks (async ones stop anyway)")
            if "<locals>" in fn.__qualname__:
                raise ValueError(
                    f"{name}: a process=True task must be defined at module level, "
                    "so a child process can import it"
                )
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.default_options.queue!r}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def check_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Raise `TypeError` unless a call with these arguments binds to the
        function. Checked at every enqueue and again before every attempt (the
        payload may come from elsewhere), so the common call, all positional
        and as many as the function takes, skips `Signature.bind`."""
        if kwargs or len(args) != self.plain_arity:
            self.signature.bind(*args, **kwargs)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Make a job of this call with the task's options; returns its handle."""
        return TaskCall(self, self.default_options).enqueue(*args, **kwargs)

    def enqueue_many(self, calls: Iterable[Sequence[Any] | Mapping[str, Any]]) -> list[Job]:
        """Enqueue many calls in one store round trip; see `TaskCall.enqueue_many`."""
        return TaskCall(self, self.default_options).enqueue_many(calls)

    def options(self, *, connection: object | None = None, **overrides: Any) -> TaskCall[P, R]:
        """Per-enqueue options: ``queue``, ``priority``, ``delay``, ``at``,
        ``max_attempts``, ``timeout``, ``key``; and ``connection``, the
        caller's open database connection, to enqueue inside its transaction
        (a psycopg connection for PostgreSQL, a sqlite3 one for SQLite)."""
        unknown = set(overrides) - ENQUEUE_OPTIONS
        if unknown:
            raise TypeError(
                f"unknown enqueue option(s) {sorted(unknown)}; "
                f"expected some of {sorted(ENQUEUE_OPTIONS | {'connection'})}"
            )
        opts = dataclasses.replace(self.default_options, **overrides)
        return TaskCall(self, opts, connection)


class TaskCall(Generic[P, R]):
    """A task with its enqueue options settled; made by `Task.options`."""

    __slots__ = ("connection", "opts", "task")

    def __init__(
        self, task: Task[P, R], opts: TaskOptions, connection: object | None = None
    ) -> None:
        self.task = task
        self.opts = opts
        self.connection = connection

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        return self.task.app.submit([self.new_job(args, kwargs)], connection=self.connection)[0]

    def enqueue_many(self, calls: Iterable[Sequence[Any] | Mapping[str, Any]]) -> list[Job]:
        """Each call is a sequence of positional arguments or a mapping of keyword
        arguments. All are checked before any is stored; stored all or none."""
        batch = list(calls)
        new_job = self._job_maker()
        jobs = [
            new_job(job_id, (), call) if isinstance(call, Mapping) else new_job(job_id, call, {})
            for job_id, call in zip(new_ids(len(batch)), batch, strict=True)
        ]
        return self.task.app.submit(jobs, connection=self.connection)

    def new_job(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> NewJob:
        """Check the call against the signature, encode it, and build the record.

        Raises `TypeError` when the arguments do not fit the function, and
        `conveyor.errors.EncodeError` (a `TypeError`) when they are not JSON.
        """
        return self._job_maker()(new_id(), args, kwargs)

    def _job_maker(self) -> Callable[[str, Sequence[Any], Mapping[str, Any]], NewJob]:
        """`new_job` with the options settled once, for a batch of calls:
        reading them again for every job cost about 1.5 µs of the 6 µs of
        Python a job took before reaching the store."""
        task, opts = self.task, self.opts
        name, check, encode = task.name, task.check_arguments, task.app.codec.encode_payload
        queue, priority, max_attempts, timeout = (
            opts.queue, opts.priority, opts.max_attempts, opts.timeout,
        )  # fmt: skip
        key_of = opts.key if callable(opts.key) else None
        key = None if callable(opts.key) else opts.key
        delay = _seconds(opts.delay)
        at = None if opts.at is None else opts.at.timestamp()

        def new_job(job_id: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> NewJob:
            try:
                check(args, kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}{task.signature}: {exc}") from None
            return NewJob(
                job_id, name, queue, encode(args, kwargs), priority, max_attempts, timeout,
                key_of(*args, **kwargs) if key_of else key, delay, at,
            )  # fmt: skip

        return new_job
