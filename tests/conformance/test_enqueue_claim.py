"""Enqueue and claim: round trips, refusals at enqueue, unique keys, order."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from conveyor import Conveyor, EncodeError, JobState
from conveyor._ids import new_id
from conveyor.errors import ConveyorError
from conveyor.job import NewJob
from tests.helpers import EMPTY_PAYLOAD, Calls, descending_ids, get, new_job


def test_sync_task_round_trip(app: Conveyor) -> None:
    @app.task()
    def add(a: int, b: int) -> int:
        return a + b

    job = add.enqueue(2, b=3)
    assert job.state is JobState.QUEUED

    stats = app.run_worker(burst=True)

    assert job.result(timeout=5) == 5
    record = job.record()
    assert record.state is JobState.SUCCEEDED
    assert record.attempt == 1
    assert record.errors == ()
    assert record.started_at is not None and record.finished_at is not None
    assert record.finished_at >= record.started_at
    assert record.lease_expires_at is None
    assert stats.succeeded == 1 and stats.processed == 1


def test_async_task_round_trip(app: Conveyor) -> None:
    @app.task()
    async def fetch(url: str) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"url": url, "sizes": [1, 2.5, None], "ok": True}

    job = fetch.enqueue("https://example.org/é")
    app.run_worker(burst=True)

    assert job.result(timeout=5) == {
        "url": "https://example.org/é",
        "sizes": [1, 2.5, None],
        "ok": True,
    }
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 1


def test_sync_and_async_tasks_share_one_worker(app: Conveyor) -> None:
    @app.task()
    def double(n: int) -> int:
        return n * 2

    @app.task()
    async def triple(n: int) -> int:
        await asyncio.sleep(0)
        return n * 3

    doubled = [double.enqueue(n) for n in range(5)]
    tripled = [triple.enqueue(n) for n in range(5)]
    stats = app.run_worker(burst=True, concurrency=3)

    assert [job.result(timeout=5) for job in doubled] == [0, 2, 4, 6, 8]
    assert [job.result(timeout=5) for job in tripled] == [0, 3, 6, 9, 12]
    assert stats.succeeded == 10


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((1,), {}, id="missing"),
        pytest.param((1, 2, 3), {}, id="extra-positional"),
        pytest.param((1, 2), {"c": 3}, id="unknown-keyword"),
        pytest.param((1,), {"a": 2, "b": 3}, id="duplicate"),
    ],
)
def test_enqueue_refuses_arguments_that_do_not_bind(
    app: Conveyor, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    @app.task(name="pair")
    def pair(a: int, b: int) -> int:
        return a + b

    with pytest.raises(TypeError, match="pair"):
        pair.enqueue(*args, **kwargs)
    assert app.store.list() == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(object(), id="object"),
        pytest.param({1, 2}, id="set"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param(float("nan"), id="nan"),
        pytest.param({("tuple", "key"): 1}, id="tuple-key"),
    ],
)
def test_enqueue_refuses_non_json_arguments(app: Conveyor, value: object) -> None:
    @app.task()
    def take(value: object) -> None:
        return None

    with pytest.raises(EncodeError) as caught:
        take.enqueue(value)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ConveyorError)
    assert "JSON" in str(caught.value)
    assert app.store.list() == []


def test_enqueue_many_stores_all_or_none(app: Conveyor) -> None:
    @app.task()
    def square(n: int) -> int:
        return n * n

    with pytest.raises(TypeError):
        square.enqueue_many([(1,), (2,), (3, 4)])
    with pytest.raises(EncodeError):
        square.enqueue_many([(1,), {"n": object()}])
    assert app.store.list() == []

    jobs = square.enqueue_many([(1,), {"n": 2}, [3]])
    assert len({job.id for job in jobs}) == 3
    app.run_worker(burst=True)
    assert [job.result(timeout=5) for job in jobs] == [1, 4, 9]


def test_unique_key_returns_the_active_job_then_a_new_one(app: Conveyor) -> None:
    calls = Calls()

    @app.task()
    def welcome(user: int) -> int:
        calls.add(user)
        return user

    first = welcome.options(key="welcome:42").enqueue(42)
    again = welcome.options(key="welcome:42").enqueue(42)
    other = welcome.options(key="welcome:43").enqueue(43)

    assert again.id == first.id
    assert other.id != first.id
    assert len(app.store.list()) == 2

    app.run_worker(burst=True)
    assert sorted(calls.items) == [42, 43]  # the duplicate never ran
    assert first.state is JobState.SUCCEEDED

    after = welcome.options(key="welcome:42").enqueue(42)
    assert after.id != first.id
    assert after.state is JobState.QUEUED
    assert get(app.store, after.id).key == "welcome:42"


def test_unique_key_from_a_function_of_the_arguments(app: Conveyor) -> None:
    @app.task(key=lambda user, **_: f"user:{user}")
    def sync_user(user: int, full: bool = False) -> None:
        return None

    first = sync_user.enqueue(7)
    same = sync_user.enqueue(7, full=True)
    different = sync_user.enqueue(8)

    assert same.id == first.id
    assert different.id != first.id
    assert get(app.store, first.id).key == "user:7"


@pytest.mark.parametrize("held_while", [JobState.SCHEDULED, JobState.QUEUED, JobState.RUNNING])
def test_unique_key_is_held_in_every_active_state(app: Conveyor, held_while: JobState) -> None:
    store = app.store
    delay = 3600.0 if held_while is JobState.SCHEDULED else 0.0
    [first] = store.enqueue([new_job(key="k", delay=delay)])
    if held_while is JobState.RUNNING:
        store.claim(["default"], "w", 1, 60.0)
    assert get(store, first.id).state is held_while

    [again] = store.enqueue([new_job(key="k")])

    assert again.id == first.id
    assert again.state is held_while
    assert len(store.list()) == 1


@pytest.mark.parametrize("finished_as", [JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED])
def test_unique_key_is_released_when_the_job_finishes(app: Conveyor, finished_as: JobState) -> None:
    from conveyor.job import ErrorInfo, Outcome

    store = app.store
    [first] = store.enqueue([new_job(key="k")])
    if finished_as is JobState.CANCELLED:
        assert store.cancel(first.id)
    else:
        [claimed] = store.claim(["default"], "w", 1, 60.0)
        dead = finished_as is JobState.DEAD
        error = ErrorInfo(attempt=1, type="E", message="m") if dead else None
        store.finish(
            [
                Outcome(
                    first.id,
                    claimed.attempt,
                    finished_as,
                    error=error,
                    reason="max_attempts" if error else None,
                )
            ]
        )
    assert get(store, first.id).state is finished_as

    [second] = store.enqueue([new_job(key="k")])

    assert second.id != first.id
    assert second.state is JobState.QUEUED
    assert get(store, first.id).state is finished_as


def test_unique_key_twice_in_one_batch_stores_one_job(app: Conveyor) -> None:
    records = app.store.enqueue([new_job(key="batch"), new_job(key="batch"), new_job()])

    assert records[0].id == records[1].id
    assert records[2].id != records[0].id
    assert len(app.store.list()) == 2


def test_one_batch_of_jobs_with_different_options_keeps_each_ones_own(app: Conveyor) -> None:
    """Options alternate within the batch, and the first ones come back after
    others, so a store that sends each set of shared options once must start
    again each time they change."""
    plain = new_job(queue="mail")
    other = NewJob(
        id=new_id(), task="tests.other", queue="reports", payload=EMPTY_PAYLOAD, priority=5,
        max_attempts=7, timeout=2.5, key="report:1", delay=3600.0,
    )  # fmt: skip
    at = time.time() + 7200
    jobs = [plain, other, new_job(queue="mail"), new_job(queue="mail", key="mail:1")]
    jobs.append(jobs[-1]._replace(id=new_id(), key="mail:2", delay=0.0, at=at))

    records = app.store.enqueue(jobs)

    assert [r.id for r in records] == [job.id for job in jobs]
    for job, record in zip(jobs, records, strict=True):
        stored = get(app.store, job.id)
        assert stored == record
        assert (stored.task, stored.queue, stored.priority, stored.max_attempts) == (
            job.task, job.queue, job.priority, job.max_attempts,
        )  # fmt: skip
        assert (stored.timeout, stored.key, stored.payload) == (job.timeout, job.key, job.payload)
    queued, scheduled = JobState.QUEUED, JobState.SCHEDULED
    assert [r.state for r in records] == [queued, scheduled, queued, queued, scheduled]
    assert records[1].run_at - records[1].created_at == pytest.approx(3600.0, abs=1.0)
    assert records[4].run_at == pytest.approx(at, abs=0.01)


def test_one_slot_runs_by_priority_then_enqueue_order(app: Conveyor) -> None:
    order = Calls()

    @app.task()
    def step(label: str) -> None:
        order.add(label)

    for label, priority in [
        ("low-1", 0),
        ("high-1", 10),
        ("low-2", 0),
        ("mid", 5),
        ("negative", -3),
        ("high-2", 10),
        ("low-3", 0),
        ("high-3", 10),
    ]:
        step.options(priority=priority).enqueue(label)

    app.run_worker(burst=True, concurrency=1)

    assert order.items == [
        "high-1",
        "high-2",
        "high-3",
        "mid",
        "low-1",
        "low-2",
        "low-3",
        "negative",
    ]


def test_task_default_priority_is_used_and_can_be_overridden(app: Conveyor) -> None:
    order = Calls()

    @app.task(priority=5)
    def urgent(label: str) -> None:
        order.add(label)

    @app.task()
    def normal(label: str) -> None:
        order.add(label)

    normal.enqueue("normal")
    urgent.options(priority=-1).enqueue("demoted")
    urgent.enqueue("urgent")

    app.run_worker(burst=True, concurrency=1)

    assert order.items == ["urgent", "normal", "demoted"]


def test_worker_serves_only_its_queues(app: Conveyor) -> None:
    ran = Calls()

    @app.task(queue="mail")
    def mail(n: int) -> None:
        ran.add(("mail", n))

    @app.task()
    def other(n: int) -> None:
        ran.add(("default", n))

    mail_job = mail.enqueue(1)
    moved = other.options(queue="reports").enqueue(2)
    default_job = other.enqueue(3)
    assert get(app.store, mail_job.id).queue == "mail"
    assert get(app.store, moved.id).queue == "reports"

    app.run_worker(burst=True, queues=["mail"])
    assert ran.items == [("mail", 1)]
    assert default_job.state is JobState.QUEUED
    assert moved.state is JobState.QUEUED

    app.run_worker(burst=True)  # default queues: "default" and every task's queue
    assert sorted(ran.items) == [("default", 3), ("mail", 1)]
    assert moved.state is JobState.QUEUED

    app.run_worker(burst=True, queues=["reports"])
    assert moved.state is JobState.SUCCEEDED


def test_claim_takes_the_best_batch_and_leases_it(app: Conveyor) -> None:
    store = app.store
    # Ids of one millisecond whose random parts sort against enqueue order, as
    # they do half the time for two jobs enqueued together.
    made = descending_ids(5)
    priorities = (0, 3, 1, 3, 2)
    records = store.enqueue(
        [new_job(priority=p, job_id=i) for p, i in zip(priorities, made, strict=True)]
    )
    ids = [record.id for record in records]
    assert ids == made
    assert all(record.state is JobState.QUEUED and record.attempt == 0 for record in records)

    claimed = store.claim(["default"], "worker-a", 3, 30.0)

    assert [record.id for record in claimed] == [ids[1], ids[3], ids[4]]
    for record in claimed:
        assert record.state is JobState.RUNNING
        assert record.attempt == 1
        assert record.worker == "worker-a"
        assert record.started_at is not None and record.lease_expires_at is not None
        assert 25.0 <= record.lease_expires_at - record.started_at <= 35.0
        assert get(store, record.id) == record
    assert {r.id for r in store.list(states=[JobState.QUEUED])} == {ids[0], ids[2]}

    rest = store.claim(["default"], "worker-b", 10, 30.0)
    assert [record.id for record in rest] == [ids[2], ids[0]]
    assert store.claim(["default"], "worker-b", 10, 30.0) == []


def test_equal_priority_is_claimed_in_enqueue_order_one_by_one_and_in_a_batch(
    app: Conveyor,
) -> None:
    store = app.store
    first_batch = descending_ids(4)
    store.enqueue([new_job(job_id=job_id) for job_id in first_batch])
    one_by_one = [store.claim(["default"], "w", 1, 30.0)[0].id for _ in range(4)]
    assert one_by_one == first_batch

    second_batch = descending_ids(4)
    store.enqueue([new_job(job_id=job_id, queue="batch") for job_id in second_batch])
    assert [record.id for record in store.claim(["batch"], "w", 4, 30.0)] == second_batch


def test_claim_with_no_queues_other_queues_or_no_room_takes_nothing(app: Conveyor) -> None:
    store = app.store
    [record] = store.enqueue([new_job(queue="a")])

    assert store.claim([], "w", 5, 30.0) == []
    assert store.claim(["b"], "w", 5, 30.0) == []
    assert store.claim(["a"], "w", 0, 30.0) == []
    assert get(store, record.id).state is JobState.QUEUED
    assert [r.id for r in store.claim(["b", "a"], "w", 5, 30.0)] == [record.id]


def test_concurrent_claims_never_hand_out_a_job_twice(app: Conveyor) -> None:
    store = app.store
    ids = {record.id for record in store.enqueue([new_job() for _ in range(120)])}
    taken: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(len(taken))

    def claim_all(mine: list[str], worker: str) -> None:
        start.wait()
        while batch := store.claim(["default"], worker, 3, 30.0):
            mine.extend(record.id for record in batch)

    threads = [
        threading.Thread(target=claim_all, args=(mine, f"w{n}")) for n, mine in enumerate(taken)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    everything = [job_id for mine in taken for job_id in mine]
    assert len(everything) == len(set(everything)), "a job was claimed twice"
    assert set(everything) == ids
    assert all(get(store, job_id).attempt == 1 for job_id in ids)
