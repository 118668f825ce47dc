"""What attempts come to: success, retries, dead letters and their reasons."""

from __future__ import annotations

import asyncio
import time

import pytest

from conveyor import Conveyor, JobFailed, JobState, Reason
from conveyor.job import ErrorInfo, Outcome
from conveyor.retry import Backoff
from tests.helpers import Calls, get, new_job


class Flaky(Exception):
    """The error the test tasks raise."""


def qualified(kind: type[BaseException]) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def test_retry_then_success_keeps_both_errors(app: Conveyor) -> None:
    attempts = Calls()

    @app.task(max_attempts=3, backoff=0)
    def wobbly(n: int) -> int:
        attempts.add(n)
        if len(attempts) < 3:
            raise Flaky(f"failure number {len(attempts)}")
        return n * 10

    job = wobbly.enqueue(4)
    stats = app.run_worker(burst=True)

    assert job.result(timeout=5) == 40
    record = job.record()
    assert record.state is JobState.SUCCEEDED
    assert record.attempt == 3
    assert record.reason is None
    assert [error.attempt for error in record.errors] == [1, 2]
    assert [error.type for error in record.errors] == [qualified(Flaky)] * 2
    assert [error.message for error in record.errors] == ["failure number 1", "failure number 2"]
    assert all("Flaky" in error.traceback for error in record.errors)
    assert len(attempts) == 3
    assert stats.retried == 2 and stats.succeeded == 1


def test_dead_after_max_attempts_keeps_the_error(app: Conveyor) -> None:
    @app.task(max_attempts=2, backoff=0)
    def doomed(order: int) -> None:
        raise ValueError(f"order {order} is invalid")

    job = doomed.enqueue(17)
    stats = app.run_worker(burst=True)

    record = job.record()
    assert record.state is JobState.DEAD
    assert record.reason == Reason.MAX_ATTEMPTS
    assert record.attempt == 2
    assert record.finished_at is not None
    assert len(record.errors) == 2
    last = record.errors[-1]
    assert (last.attempt, last.type, last.message) == (2, "ValueError", "order 17 is invalid")
    assert "Traceback (most recent call last)" in last.traceback
    assert "in doomed" in last.traceback
    assert "ValueError: order 17 is invalid" in last.traceback
    assert stats.dead == 1 and stats.retried == 1

    with pytest.raises(JobFailed) as caught:
        job.result(timeout=5)
    failed = caught.value
    assert failed.job_id == job.id
    assert failed.state is JobState.DEAD
    assert failed.reason == "max_attempts"
    assert failed.error is not None and failed.error.type == "ValueError"
    assert "order 17 is invalid" in str(failed)


def test_max_attempts_can_be_set_per_enqueue(app: Conveyor) -> None:
    @app.task(max_attempts=5, backoff=0)
    def doomed() -> None:
        raise RuntimeError("no")

    job = doomed.options(max_attempts=1).enqueue()
    app.run_worker(burst=True)

    record = job.record()
    assert (record.state, record.attempt, record.max_attempts) == (JobState.DEAD, 1, 1)


def test_dead_letter_replay_runs_the_job_again(app: Conveyor) -> None:
    broken = {"yes": True}

    @app.task(max_attempts=2, backoff=0)
    def charge(amount: int) -> str:
        if broken["yes"]:
            raise ConnectionError("payment service down")
        return f"charged {amount}"

    job = charge.enqueue(30)
    app.run_worker(burst=True)
    assert job.state is JobState.DEAD

    broken["yes"] = False
    assert app.store.requeue_dead([job.id]) == 1
    replayed = job.record()
    assert replayed.state is JobState.QUEUED
    assert replayed.attempt == 0
    assert replayed.reason is None
    assert len(replayed.errors) == 2  # the history is kept

    app.run_worker(burst=True)

    assert job.result(timeout=5) == "charged 30"
    record = job.record()
    assert record.state is JobState.SUCCEEDED
    assert record.attempt == 1
    assert [error.type for error in record.errors] == ["ConnectionError"] * 2


def test_requeue_dead_counts_only_dead_jobs(app: Conveyor) -> None:
    @app.task(max_attempts=1)
    def fails() -> None:
        raise RuntimeError("x")

    @app.task()
    def works() -> None:
        return None

    dead = [fails.enqueue() for _ in range(2)]
    done = works.enqueue()
    app.run_worker(burst=True)
    waiting = works.enqueue()

    moved = app.store.requeue_dead([dead[0].id, dead[1].id, done.id, waiting.id, "no-such-job"])

    assert moved == 2
    assert [job.state for job in dead] == [JobState.QUEUED, JobState.QUEUED]
    assert done.state is JobState.SUCCEEDED
    assert waiting.state is JobState.QUEUED


def test_replay_leaves_dead_a_job_whose_key_an_active_job_holds(app: Conveyor) -> None:
    store = app.store
    [dead] = store.enqueue([new_job(key="invoice:7", max_attempts=1)])
    [claimed] = store.claim(["default"], "w", 1, 60.0)
    store.finish([Outcome(dead.id, claimed.attempt, JobState.DEAD, reason="max_attempts",
                          error=ErrorInfo(attempt=1, type="E", message="m"))])  # fmt: skip
    [successor] = store.enqueue([new_job(key="invoice:7")])
    assert successor.id != dead.id

    assert store.requeue_dead([dead.id]) == 0
    assert get(store, dead.id).state is JobState.DEAD
    assert len(store.list(states=[JobState.QUEUED])) == 1

    assert store.cancel(successor.id)
    assert store.requeue_dead([dead.id]) == 1
    assert get(store, dead.id).state is JobState.QUEUED
    [same] = store.enqueue([new_job(key="invoice:7")])
    assert same.id == dead.id


def test_retry_on_limits_what_is_retried(app: Conveyor) -> None:
    @app.task(max_attempts=3, backoff=0, retry_on=(ConnectionError,))
    def fetch(kind: str) -> None:
        raise ConnectionError("reset") if kind == "network" else KeyError("missing")

    network = fetch.enqueue("network")
    lookup = fetch.enqueue("lookup")
    app.run_worker(burst=True)

    retried = network.record()
    assert (retried.state, retried.reason, retried.attempt) == (JobState.DEAD, "max_attempts", 3)
    refused = lookup.record()
    assert (refused.state, refused.reason, refused.attempt) == (JobState.DEAD, "not_retried", 1)
    assert refused.errors[-1].type == "KeyError"


def test_no_retry_on_wins_over_retry_on(app: Conveyor) -> None:
    @app.task(max_attempts=3, backoff=0, retry_on=(OSError,), no_retry_on=(PermissionError,))
    def write(kind: str) -> None:
        raise PermissionError("read-only") if kind == "permission" else OSError("disk busy")

    permission = write.enqueue("permission")
    busy = write.enqueue("busy")
    app.run_worker(burst=True)

    refused = permission.record()
    assert (refused.state, refused.reason, refused.attempt) == (JobState.DEAD, "not_retried", 1)
    assert refused.errors[-1].type == "PermissionError"
    retried = busy.record()
    assert (retried.state, retried.reason, retried.attempt) == (JobState.DEAD, "max_attempts", 3)


def test_unknown_task_ends_dead_and_the_worker_carries_on(app: Conveyor) -> None:
    @app.task()
    def known(n: int) -> int:
        return n

    [ghost] = app.store.enqueue([new_job(task="tests.no_such_task")])
    later = [known.enqueue(n) for n in range(3)]

    app.run_worker(burst=True)

    record = get(app.store, ghost.id)
    assert record.state is JobState.DEAD
    assert record.reason == Reason.UNKNOWN_TASK
    assert record.attempt == 1
    assert "tests.no_such_task" in record.errors[-1].message
    assert [job.result(timeout=5) for job in later] == [0, 1, 2]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[1, 2]", id="not-an-object"),
        pytest.param('{"args": "x", "kwargs": {}}', id="args-not-a-list"),
        pytest.param('{"args": [], "kwargs": []}', id="kwargs-not-an-object"),
    ],
)
def test_undecodable_payload_ends_dead_and_the_worker_carries_on(
    app: Conveyor, payload: str
) -> None:
    @app.task(name="tests.echo")
    def echo(value: int = 0) -> int:
        return value

    [bad] = app.store.enqueue([new_job(task="tests.echo", payload=payload)])
    good = echo.enqueue(5)

    app.run_worker(burst=True)

    record = get(app.store, bad.id)
    assert (record.state, record.reason, record.attempt) == (JobState.DEAD, "decode_error", 1)
    assert record.errors[-1].type == "conveyor.errors.DecodeError"
    assert good.result(timeout=5) == 5


def test_payload_that_no_longer_binds_ends_dead(app: Conveyor) -> None:
    @app.task(name="tests.resize")
    def resize(image: str, width: int) -> str:
        return f"{image}@{width}"

    # Written by an older deploy whose task took other arguments.
    [stale] = app.store.enqueue(
        [new_job(task="tests.resize", payload='{"args":["a.png"],"kwargs":{"height":3}}')]
    )
    good = resize.enqueue("b.png", 10)

    app.run_worker(burst=True)

    record = get(app.store, stale.id)
    assert (record.state, record.reason, record.attempt) == (JobState.DEAD, "bad_arguments", 1)
    assert record.errors[-1].type == "TypeError"
    assert "tests.resize" in record.errors[-1].message
    assert good.result(timeout=5) == "b.png@10"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(object(), id="object"),
        pytest.param({1}, id="set"),
        pytest.param(float("inf"), id="infinity"),
    ],
)
def test_result_that_is_not_json_ends_dead(app: Conveyor, value: object) -> None:
    runs = Calls()

    @app.task(max_attempts=3, backoff=0)
    def odd() -> object:
        runs.add(1)
        return value

    job = odd.enqueue()
    app.run_worker(burst=True)

    record = job.record()
    assert (record.state, record.reason) == (JobState.DEAD, "result_encode_error")
    assert record.result is None
    assert record.errors[-1].type == "conveyor.errors.EncodeError"
    assert len(runs) == 1  # not retried: the same value would come back
    with pytest.raises(JobFailed):
        job.result(timeout=5)


def test_async_task_over_its_timeout_is_cancelled(app: Conveyor) -> None:
    reached_end = Calls()

    @app.task(timeout=0.2, max_attempts=2, backoff=0)
    async def slow() -> str:
        await asyncio.sleep(30)
        reached_end.add(1)
        return "too late"

    job = slow.enqueue()
    app.run_worker(burst=True)

    record = job.record()
    assert record.state is JobState.DEAD
    assert record.reason == Reason.TIMEOUT
    assert record.attempt == 2
    assert [error.type.rsplit(".", 1)[-1] for error in record.errors] == ["AttemptTimeout"] * 2
    assert "0.2" in record.errors[-1].message
    assert len(reached_end) == 0


def test_timeout_can_be_set_per_enqueue(app: Conveyor) -> None:
    @app.task()
    async def nap(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "rested"

    quick = nap.options(timeout=5.0).enqueue(0.01)
    cut = nap.options(timeout=0.1, max_attempts=1).enqueue(30)
    app.run_worker(burst=True)

    assert quick.result(timeout=5) == "rested"
    assert (cut.record().state, cut.record().reason) == (JobState.DEAD, "timeout")


def test_sync_task_over_its_timeout_fails_when_it_returns(app: Conveyor) -> None:
    @app.task(timeout=0.05, max_attempts=1)
    def sluggish() -> str:
        time.sleep(0.3)
        return "late result"

    job = sluggish.enqueue()
    app.run_worker(burst=True)

    record = job.record()
    assert (record.state, record.reason) == (JobState.DEAD, "timeout")
    assert record.result is None
    assert record.errors[-1].type.endswith("AttemptTimeout")


def test_failed_attempt_before_the_last_is_scheduled_with_backoff(app: Conveyor) -> None:
    @app.task(max_attempts=3, backoff=Backoff(base=600, jitter=False))
    def later() -> None:
        raise RuntimeError("try later")

    job = later.enqueue()
    before = time.time()
    app.run_worker(burst=True)

    record = job.record()
    assert record.state is JobState.SCHEDULED
    assert record.attempt == 1
    assert record.worker is None and record.lease_expires_at is None
    assert 590 <= record.run_at - before <= 610
    assert [error.message for error in record.errors] == ["try later"]


def test_worker_keeps_running_after_exceptions_of_every_kind(app: Conveyor) -> None:
    @app.task(max_attempts=1)
    def explode(kind: str) -> str:
        if kind == "value":
            raise ValueError("v")
        if kind == "system":
            raise ZeroDivisionError("z")
        if kind == "custom":
            raise Flaky("c")
        return "fine"

    jobs = {kind: explode.enqueue(kind) for kind in ("value", "system", "custom", "ok")}
    stats = app.run_worker(burst=True, concurrency=2)

    assert jobs["ok"].result(timeout=5) == "fine"
    assert {kind: job.record().errors[-1].type for kind, job in jobs.items() if kind != "ok"} == {
        "value": "ValueError",
        "system": "ZeroDivisionError",
        "custom": qualified(Flaky),
    }
    assert stats.dead == 3 and stats.succeeded == 1


def test_retries_due_at_once_run_each_attempt_to_its_end(app: Conveyor) -> None:
    """A retry with no backoff is claimed again, often by the same idle
    worker, before that worker has let go of the failed attempt: the new
    attempt must keep its own bookkeeping and store its outcome."""

    @app.task(max_attempts=25, backoff=0)
    def flaky() -> None:
        raise OSError("busy")

    job = flaky.enqueue()
    stats = app.run_worker(burst=True, shutdown_timeout=5)

    record = job.record()
    assert (record.state, record.reason, record.attempt) == (JobState.DEAD, "max_attempts", 25)
    assert (stats.retried, stats.dead) == (24, 1)
