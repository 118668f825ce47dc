"""The `Conveyor` app: configuration, the task registry and the store it opens."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from conveyor.codec import JsonCodec
from conveyor.errors import UnknownTask
from conveyor.job import Job, NewJob
from conveyor.periodic import Missed, Schedule
from conveyor.stores import DEFAULT_URL, Store, open_store
from conveyor.task import Task, TaskCall, TaskOptions

if TYPE_CHECKING:
    from conveyor.worker import WorkerStats

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Settings:
    """Knobs shared by every worker of an app."""

    #: Seconds a claimed job stays leased without a heartbeat before it is recovered.
    lease: float = 30.0
    #: Seconds succeeded and cancelled jobs are kept (with their results).
    result_ttl: float = 24 * 3600.0
    #: Seconds dead jobs are kept for inspection and replay.
    dead_ttl: float = 30 * 24 * 3600.0

    def __post_init__(self) -> None:
        if self.lease <= 0 or self.result_ttl < 0 or self.dead_ttl < 0:
            raise ValueError("lease must be positive; retention must not be negative")


class Conveyor:
    """A job queue: register tasks on it, enqueue jobs, run workers.

    The store opens on first use, so importing a module that defines an app
    touches nothing.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        lease: float = 30.0,
        result_ttl: float = 24 * 3600.0,
        dead_ttl: float = 30 * 24 * 3600.0,
    ) -> None:
        self.url = url or os.environ.get("CONVEYOR_URL") or DEFAULT_URL
        self.settings = Settings(lease=lease, result_ttl=result_ttl, dead_ttl=dead_ttl)
        self.codec = JsonCodec()
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.schedules: dict[str, Schedule] = {}
        self._store: Store | None = None
        self._store_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Conveyor {self.url} tasks={len(self.tasks)}>"

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    self._store = open_store(self.url)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- tasks -----------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self, fn: None = None, /, *, name: str | None = None, **options: Any
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self, fn: Callable[P, R] | None = None, /, *, name: str | None = None, **options: Any
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """Register a function as a task: ``@app.task`` or ``@app.task(queue=...)``.

        Options: ``queue``, ``priority``, ``max_attempts``, ``timeout``,
        ``backoff``, ``retry_on``, ``no_retry_on``, ``delay``, ``at``, ``key``;
        limits ``rate_limit`` (``"100/m"``), ``concurrency`` and
        ``limit_key``; ``topics`` it subscribes to; ``process=True`` to run
        each attempt in a child process (hard timeouts for sync code).
        The name defaults to ``module.qualname``; workers find tasks by it.
        """
        if isinstance(options.get("topics"), list):
            options["topics"] = tuple(options["topics"])
        task_options = TaskOptions(**options)

        def register(func: Callable[P, R]) -> Task[P, R]:
            task_name = name or f"{func.__module__}.{func.__qualname__}"
            if task_name in self.tasks:
                raise ValueError(f"a task named {task_name!r} is already registered")
            task = Task(self, func, task_name, task_options)
            self.tasks[task_name] = task
            return task

        return register(fn) if fn is not None else register

    def periodic(
        self,
        cron: str | None = None,
        /,
        *,
        every: float | timedelta | None = None,
        tz: str = "UTC",
        missed: Missed = "once",
        name: str | None = None,
        **options: Any,
    ) -> Callable[[Callable[P, R]], Task[P, R]]:
        """Register a task that every worker runs on a schedule, once per tick
        in all: ``@app.periodic("*/5 * * * *", tz="Europe/Paris")`` or
        ``@app.periodic(every=30)``. ``missed="once"`` (the default) fires
        the latest tick missed while no worker ran, ``"skip"`` does not.
        Other options are the task's (``queue``, ``max_attempts``, ...)."""

        def register(func: Callable[P, R]) -> Task[P, R]:
            task = self.task(name=name, **options)(func)
            try:
                self.schedules[task.name] = Schedule.of(task, cron, every, tz, missed)
            except Exception:
                del self.tasks[task.name]
                raise
            return task

        return register

    def get_task(self, name: str) -> Task[Any, Any]:
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownTask(f"no task named {name!r} is registered") from None

    # -- jobs ------------------------------------------------------------

    def submit(self, jobs: Sequence[NewJob], *, connection: object | None = None) -> list[Job]:
        """Store prepared jobs in one round trip (what `Task.enqueue` ends in),
        inside the caller's transaction when given its `connection`."""
        records = self.store.enqueue(jobs, connection=connection)
        return [Job(self, record.id) for record in records]

    def publish(self, topic: str, /, *args: Any, **kwargs: Any) -> list[Job]:
        """One job per task subscribed to `topic` (``@app.task(topics=[...])``),
        each with its own retries; stored all or none. Every subscriber must
        accept the arguments. No subscriber, no job."""
        subscribers = [t for t in self.tasks.values() if topic in t.default_options.topics]
        if not subscribers:
            return []
        jobs = [TaskCall(t, t.default_options).new_job(args, kwargs) for t in subscribers]
        return self.submit(jobs)

    def pause(self, queue: str) -> None:
        """No worker claims from `queue` until `resume`; enqueueing goes on."""
        self.store.pause(queue)

    def resume(self, queue: str) -> None:
        self.store.resume(queue)

    def job(self, job_id: str) -> Job | None:
        """The handle of a stored job, or None if the store does not know it."""
        return Job(self, job_id) if self.store.get(job_id) is not None else None

    def queues(self) -> tuple[str, ...]:
        """The queues this app's tasks use, ``default`` always among them."""
        names = {"default"} | {t.default_options.queue for t in self.tasks.values()}
        return tuple(sorted(names))

    def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int = 10,
        burst: bool = False,
        shutdown_timeout: float = 25.0,
    ) -> WorkerStats:
        """Run a worker in this process until stopped, or, with ``burst``, until
        nothing is due. Returns what it did."""
        from conveyor.worker import Worker

        worker = Worker(
            self,
            queues=queues,
            concurrency=concurrency,
            burst=burst,
            shutdown_timeout=shutdown_timeout,
        )
        return worker.run()
