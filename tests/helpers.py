"""Small helpers shared by the tests: polling with a deadline, building jobs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import pytest

from conveyor import Conveyor
from conveyor._ids import new_id
from conveyor.job import ErrorInfo, JobRecord, JobState, NewJob, Outcome
from conveyor.stores.base import Store, WorkerInfo

T = TypeVar("T")

#: The payload of a call with no arguments, as the JSON codec writes it.
EMPTY_PAYLOAD = '{"args":[],"kwargs":{}}'


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
) -> T:
    """Call `condition` until it returns something truthy and return that.

    Fails the test with `message` when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(condition, "__name__", repr(condition))
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        time.sleep(interval)


class Calls:
    """A thread-safe record of what tasks ran, in the order they ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[object] = []

    def add(self, item: object) -> None:
        with self._lock:
            self._items.append(item)

    @property
    def items(self) -> list[object]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def new_job(
    *,
    task: str = "tests.noop",
    queue: str = "default",
    payload: str = EMPTY_PAYLOAD,
    priority: int = 0,
    max_attempts: int = 3,
    delay: float = 0.0,
    key: str | None = None,
    job_id: str | None = None,
) -> NewJob:
    """A job record as a producer hands it to `Store.enqueue`."""
    return NewJob(
        id=job_id or new_id(),
        task=task,
        queue=queue,
        payload=payload,
        priority=priority,
        max_attempts=max_attempts,
        delay=delay,
        key=key,
    )


def descending_ids(count: int) -> list[str]:
    """Valid job ids of one millisecond whose random parts sort in reverse:
    jobs enqueued in this order must still be taken in enqueue order."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert count <= len(alphabet)
    template = new_id()
    stamp, randomness = template[:10], template[11:]
    return [stamp + alphabet[-1 - n] + randomness for n in range(count)]


def worker_info(
    worker_id: str = "test-worker", queues: tuple[str, ...] = ("default",)
) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id,
        hostname="test-host",
        pid=4242,
        queues=queues,
        concurrency=3,
        started_at=time.time(),
    )


def get(store: Store, job_id: str) -> JobRecord:
    record = store.get(job_id)
    assert record is not None, f"job {job_id} is missing from the store"
    return record


def job_in_state(store: Store, state: JobState, *, queue: str = "default") -> JobRecord:
    """Put a fresh job into `state` through the store's own primitives."""
    delay = 3600.0 if state is JobState.SCHEDULED else 0.0
    [record] = store.enqueue([new_job(queue=queue, delay=delay)])
    if state in (JobState.SCHEDULED, JobState.QUEUED):
        assert record.state is state
        return record
    if state is JobState.CANCELLED:
        assert store.cancel(record.id)
        return get(store, record.id)
    [claimed] = store.claim([queue], "maker", 1, 60.0)
    assert claimed.id == record.id
    if state is JobState.RUNNING:
        return claimed
    if state is JobState.SUCCEEDED:
        outcome = Outcome(record.id, claimed.attempt, JobState.SUCCEEDED, result="null")
    else:
        error = ErrorInfo(attempt=claimed.attempt, type="RuntimeError", message="made dead")
        outcome = Outcome(
            record.id, claimed.attempt, JobState.DEAD, error=error, reason="max_attempts"
        )
    assert store.finish([outcome]) == 1
    done = get(store, record.id)
    assert done.state is state
    return done


def states(app: Conveyor, job_ids: Iterable[str]) -> dict[str, JobState]:
    return {job_id: get(app.store, job_id).state for job_id in job_ids}


class Workers:
    """Several in-process workers on one app, each in its own thread (signal
    handlers stay with the main thread); stopped and joined on exit."""

    def __init__(self, app: Conveyor, count: int, **options: object) -> None:
        from conveyor.worker import Worker

        self.workers = [Worker(app, **options) for _ in range(count)]  # type: ignore[arg-type]
        self.threads = [threading.Thread(target=w.run, daemon=True) for w in self.workers]

    def __enter__(self) -> Workers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.stop()
        for thread in self.threads:
            thread.join(30)
        assert not any(t.is_alive() for t in self.threads), "a worker did not stop"


#: Seconds a rate-limited job's first statement may run after the store
#: admitted it: the tests time starts inside the task, after the worker's
#: own steps, and on a busy 2-CPU machine the first start of a fresh worker
#: once came 55 ms after its admission (its successor on time, so the two
#: starts looked 195 ms apart at 4/s). A limit not applied at all, or
#: applied to the wrong bucket, still shows at once: several starts together.
START_SLACK = 0.1


def most_in_window(times: list[float], window: float) -> int:
    """The most of `times` inside any half-open interval `window` long."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def logged_warnings(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    """The messages `logger` logged at WARNING or above since caplog was cleared."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == logger and record.levelno >= logging.WARNING
    ]
