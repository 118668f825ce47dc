"""Reads: job handles, list filters, per-queue counts, live workers."""

from __future__ import annotations

import time

import pytest

from conveyor import Conveyor, JobState
from conveyor.job import ErrorInfo, Outcome
from tests.backends import Backend
from tests.helpers import get, new_job, wait_for, worker_info


def test_capabilities_match_the_test_backend_list(app: Conveyor, backend: Backend) -> None:
    assert app.store.capabilities.shared is backend.shared


def test_job_handles(app: Conveyor) -> None:
    @app.task()
    def noop() -> None:
        return None

    job = noop.enqueue()

    found = app.job(job.id)
    assert found == job and hash(found) == hash(job)
    assert app.job("01ARZ3NDEKTSV4RRFFQ69G5FAV") is None
    assert app.store.get("no-such-job") is None
    assert len(job.id) == 26
    with pytest.raises(TimeoutError):
        job.result(timeout=0.1)

    app.run_worker(burst=True)
    assert job.result(timeout=5) is None
    assert app.store.purge({JobState.SUCCEEDED}) == 1
    with pytest.raises(LookupError):
        job.record()
    assert app.job(job.id) is None


def test_record_fields_after_enqueue(app: Conveyor) -> None:
    @app.task(queue="mail", max_attempts=7, timeout=12.5)
    def send(to: str, subject: str = "") -> None:
        return None

    before = time.time()
    job = send.options(priority=4, key="mail:1").enqueue("a@example.com", subject="hi")
    record = job.record()

    assert record.id == job.id
    assert record.task == send.name
    assert (record.queue, record.priority, record.max_attempts) == ("mail", 4, 7)
    assert (record.timeout, record.key, record.attempt) == (12.5, "mail:1", 0)
    assert record.state is JobState.QUEUED
    assert app.codec.decode_payload(record.payload) == (["a@example.com"], {"subject": "hi"})
    assert before - 1 <= record.created_at <= time.time() + 1
    assert record.run_at >= record.created_at - 0.001
    assert (record.started_at, record.finished_at, record.worker) == (None, None, None)
    assert (record.result, record.reason, record.errors) == (None, None, ())


def test_list_filters_and_order(app: Conveyor) -> None:
    store = app.store
    queued_a = [store.enqueue([new_job(queue="a", task="t.one")])[0] for _ in range(3)]
    [queued_b] = store.enqueue([new_job(queue="b", task="t.two")])
    [scheduled] = store.enqueue([new_job(queue="b", task="t.one", delay=3600)])
    [running] = store.claim(["a"], "w", 1, 60.0)
    assert running.id == queued_a[0].id

    def ids(**filters: object) -> list[str]:
        return [record.id for record in store.list(**filters)]  # type: ignore[arg-type]

    everything = [queued_a[0].id, queued_a[1].id, queued_a[2].id, queued_b.id, scheduled.id]
    assert ids() == everything[::-1]  # newest first
    assert ids(states=[JobState.QUEUED]) == [queued_b.id, queued_a[2].id, queued_a[1].id]
    assert ids(states=[JobState.RUNNING, JobState.SCHEDULED]) == [scheduled.id, running.id]
    assert ids(queue="b") == [scheduled.id, queued_b.id]
    assert ids(task="t.one") == [scheduled.id, queued_a[2].id, queued_a[1].id, queued_a[0].id]
    assert ids(queue="a", states=[JobState.QUEUED], task="t.one") == [
        queued_a[2].id,
        queued_a[1].id,
    ]
    assert ids(queue="nowhere") == []
    assert ids(states=[JobState.DEAD]) == []
    assert ids(limit=2) == everything[::-1][:2]
    assert ids(limit=2, offset=2) == everything[::-1][2:4]
    assert ids(offset=4) == everything[:1]
    assert store.list(states=[JobState.RUNNING]) == [get(store, running.id)]


def test_counts_by_queue_and_state(app: Conveyor) -> None:
    store = app.store
    store.enqueue([new_job(queue="a"), new_job(queue="a"), new_job(queue="a", delay=3600)])
    finished = store.enqueue([new_job(queue="b") for _ in range(3)])
    first, second, third = store.claim(["b"], "w", 3, 60.0)
    store.finish(
        [
            Outcome(first.id, 1, JobState.SUCCEEDED, result="1"),
            Outcome(
                second.id,
                1,
                JobState.DEAD,
                reason="max_attempts",
                error=ErrorInfo(attempt=1, type="E", message="m"),
            ),
        ]
    )
    assert store.cancel(store.enqueue([new_job(queue="b")])[0].id)
    assert len(finished) == 3

    stats = {entry.queue: entry for entry in store.counts()}

    assert set(stats) == {"a", "b"}
    a, b = stats["a"], stats["b"]
    nonzero = {state: n for state, n in a.counts.items() if n}
    assert nonzero == {JobState.QUEUED: 2, JobState.SCHEDULED: 1}
    assert {state: n for state, n in b.counts.items() if n} == {
        JobState.SUCCEEDED: 1,
        JobState.DEAD: 1,
        JobState.RUNNING: 1,
        JobState.CANCELLED: 1,
    }
    assert a.finished_last_minute == 0
    assert b.finished_last_minute == 2
    assert a.oldest_wait >= 0.0
    assert b.oldest_wait == 0.0
    assert third.state is JobState.RUNNING


def test_counts_oldest_wait_grows_while_jobs_wait(app: Conveyor) -> None:
    store = app.store
    store.enqueue([new_job(queue="slow")])

    def waited() -> float:
        [entry] = store.counts()
        return entry.oldest_wait

    assert 0.0 <= waited() < 60.0
    assert wait_for(lambda: waited() >= 0.3, timeout=10, message="oldest_wait to grow") >= 0.3


def test_counts_of_an_empty_store(app: Conveyor) -> None:
    assert app.store.counts() == []


def test_workers_after_heartbeat_and_unregister(app: Conveyor) -> None:
    store = app.store
    one = worker_info("host:1:aa", queues=("default", "mail"))
    two = worker_info("host:2:bb")

    store.heartbeat(one, [], 30.0)
    store.heartbeat(two, [], 30.0)
    store.heartbeat(one, [], 30.0)  # a second beat updates, never duplicates

    live = {info.id: info for info in store.workers(ttl=60.0)}
    assert set(live) == {one.id, two.id}
    seen = live[one.id]
    assert (seen.hostname, seen.pid, seen.queues, seen.concurrency) == (
        "test-host",
        4242,
        ("default", "mail"),
        3,
    )
    assert seen.started_at == pytest.approx(one.started_at)
    assert seen.last_seen >= seen.started_at - 1

    store.unregister_worker(one.id)
    assert [info.id for info in store.workers(ttl=60.0)] == [two.id]
    store.unregister_worker("never-registered")
    assert [info.id for info in store.workers(ttl=60.0)] == [two.id]

    wait_for(lambda: store.workers(ttl=0.2) == [], timeout=10, message="the worker to go silent")
    assert [info.id for info in store.workers(ttl=60.0)] == [two.id]


def test_worker_registers_while_running_and_unregisters_at_exit(app: Conveyor) -> None:
    seen: list[list[str]] = []

    @app.task()
    def look() -> None:
        seen.append([info.id for info in app.store.workers(ttl=60.0)])

    look.enqueue()
    app.run_worker(burst=True)

    assert len(seen) == 1 and len(seen[0]) == 1
    assert app.store.workers(ttl=60.0) == []
