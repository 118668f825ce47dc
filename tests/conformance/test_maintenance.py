"""Leases, fencing, recovery of lost workers, hand-back at shutdown, purge."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from conveyor import Conveyor, JobState, Worker
from conveyor.job import ErrorInfo, JobRecord, Outcome
from conveyor.stores import Store
from conveyor.stores.base import Lease
from conveyor.worker._worker import HELD_PER_SLOT
from tests.helpers import Calls, get, new_job, wait_for, worker_info


def test_outcome_of_an_old_attempt_is_ignored(app: Conveyor) -> None:
    store = app.store
    [job] = store.enqueue([new_job()])
    [first] = store.claim(["default"], "slow-worker", 1, 0.2)
    assert first.attempt == 1

    wait_for(lambda: store.recover() == 1, timeout=10, message="the first lease to expire")
    [second] = store.claim(["default"], "new-worker", 1, 60.0)
    assert (second.id, second.attempt) == (job.id, 2)

    stale = [
        Outcome(job.id, first.attempt, JobState.SUCCEEDED, result='"stale"'),
        Outcome(
            job.id,
            first.attempt,
            JobState.DEAD,
            reason="max_attempts",
            error=ErrorInfo(attempt=1, type="E", message="stale"),
        ),
        Outcome(job.id, first.attempt, JobState.QUEUED),
        Outcome(job.id, first.attempt, JobState.SCHEDULED, delay=5.0),
    ]
    for outcome in stale:
        assert store.finish([outcome]) == 0
    record = get(store, job.id)
    assert (record.state, record.attempt, record.worker) == (JobState.RUNNING, 2, "new-worker")
    assert record.result is None
    assert len(record.errors) == 1  # only the lost lease

    assert store.finish([Outcome(job.id, 2, JobState.SUCCEEDED, result='"fresh"')]) == 1
    assert app.codec.decode_result(get(store, job.id).result) == "fresh"


def test_finish_applies_a_batch_and_counts_what_applied(app: Conveyor) -> None:
    store = app.store
    store.enqueue([new_job() for _ in range(3)])
    a, b, c = store.claim(["default"], "w", 3, 60.0)

    applied = store.finish(
        [
            Outcome(a.id, a.attempt, JobState.SUCCEEDED, result="1"),
            Outcome(b.id, b.attempt + 1, JobState.SUCCEEDED, result="2"),  # wrong attempt
            Outcome(
                c.id,
                c.attempt,
                JobState.SCHEDULED,
                delay=3600.0,
                error=ErrorInfo(attempt=1, type="E", message="again"),
            ),
            Outcome("no-such-job", 1, JobState.SUCCEEDED, result="3"),
        ]
    )

    assert applied == 2
    assert get(store, a.id).state is JobState.SUCCEEDED
    assert get(store, b.id).state is JobState.RUNNING
    retried = get(store, c.id)
    assert retried.state is JobState.SCHEDULED
    assert [error.message for error in retried.errors] == ["again"]
    assert store.finish([]) == 0


def test_expired_lease_is_recovered_with_the_attempt_counted(app: Conveyor) -> None:
    store = app.store
    [job] = store.enqueue([new_job(max_attempts=3)])
    [claimed] = store.claim(["default"], "vanished-worker", 1, 0.2)

    wait_for(lambda: store.recover() == 1, timeout=10, message="the lease to expire")

    record = get(store, job.id)
    assert record.state is JobState.QUEUED
    assert record.attempt == 1
    assert record.worker is None and record.lease_expires_at is None
    [lost] = record.errors
    assert (lost.attempt, lost.type) == (1, "WorkerLost")
    assert lost.message
    assert store.recover() == 0  # nothing else to recover

    [again] = store.claim(["default"], "next-worker", 1, 60.0)
    assert (again.id, again.attempt) == (claimed.id, 2)


def test_lost_lease_on_the_last_attempt_ends_dead(app: Conveyor) -> None:
    store = app.store
    [job] = store.enqueue([new_job(max_attempts=2)])

    for attempt in (1, 2):
        [claimed] = store.claim(["default"], f"doomed-{attempt}", 1, 0.2)
        assert claimed.attempt == attempt
        wait_for(lambda: store.recover() == 1, timeout=10, message="the lease to expire")

    record = get(store, job.id)
    assert record.state is JobState.DEAD
    assert record.reason == "worker_lost"
    assert record.attempt == 2
    assert record.finished_at is not None
    assert [(e.attempt, e.type) for e in record.errors] == [(1, "WorkerLost"), (2, "WorkerLost")]
    assert store.claim(["default"], "w", 1, 60.0) == []


def test_heartbeat_extends_a_lease_so_recover_leaves_it(app: Conveyor) -> None:
    store = app.store
    store.enqueue([new_job(), new_job()])
    kept, abandoned = store.claim(["default"], "w1", 2, 0.5)
    info = worker_info("w1")

    store.heartbeat(info, [Lease(kept.id, kept.attempt)], 60.0)
    extended = get(store, kept.id)
    assert extended.lease_expires_at is not None and kept.lease_expires_at is not None
    assert extended.lease_expires_at >= kept.lease_expires_at + 50

    # Both leases were taken together; once the unrenewed one has expired the
    # renewed one would have too.
    wait_for(lambda: store.recover() == 1, timeout=10, message="the unrenewed lease to expire")
    assert get(store, abandoned.id).state is JobState.QUEUED
    record = get(store, kept.id)
    assert (record.state, record.attempt, record.errors) == (JobState.RUNNING, 1, ())
    assert store.finish([Outcome(kept.id, 1, JobState.SUCCEEDED, result="null")]) == 1


def test_heartbeat_for_an_old_attempt_does_not_extend_the_new_lease(app: Conveyor) -> None:
    store = app.store
    [job] = store.enqueue([new_job()])
    store.claim(["default"], "old", 1, 0.2)
    wait_for(lambda: store.recover() == 1, timeout=10, message="the lease to expire")
    [current] = store.claim(["default"], "new", 1, 0.5)

    store.heartbeat(worker_info("old"), [Lease(job.id, 1)], 60.0)

    assert get(store, job.id).lease_expires_at == current.lease_expires_at
    wait_for(lambda: store.recover() == 1, timeout=10, message="the new lease to expire")
    assert get(store, job.id).attempt == 2


def test_worker_recovers_a_job_whose_worker_died(make_app: Callable[..., Conveyor]) -> None:
    app = make_app(lease=0.5)
    ran = Calls()

    @app.task()
    def report(n: int) -> int:
        ran.add(n)
        return n

    job = report.enqueue(9)
    [lost] = app.store.claim(app.queues(), "crashed-worker", 1, 0.3)
    assert lost.id == job.id

    # Each run recovers expired leases on start; the lease expires on the store's clock.
    def run_until_done() -> bool:
        app.run_worker(burst=True)
        return job.state is JobState.SUCCEEDED

    wait_for(run_until_done, timeout=15, interval=0.1, message="the lost job to be run")

    record = job.record()
    assert record.attempt == 2
    assert [error.type for error in record.errors] == ["WorkerLost"]
    assert ran.items == [9]


def test_running_worker_heartbeats_its_leases(make_app: Callable[..., Conveyor]) -> None:
    app = make_app(lease=0.6)
    runs = Calls()

    @app.task()
    def long_report() -> str:
        runs.add(1)
        time.sleep(2.0)  # several leases long: only heartbeats keep it
        return "complete"

    job = long_report.enqueue()
    app.run_worker(burst=True, concurrency=2)

    assert job.result(timeout=5) == "complete"
    record = job.record()
    assert record.attempt == 1
    assert record.errors == ()
    assert len(runs) == 1


def test_stop_lets_running_jobs_finish_within_the_grace_period(app: Conveyor) -> None:
    started, release = threading.Event(), threading.Event()

    @app.task()
    def blocking() -> str:
        started.set()
        release.wait(30)
        return "finished"

    job = blocking.enqueue()
    waiting = blocking.enqueue()
    worker = Worker(app, concurrency=1, shutdown_timeout=30.0)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert started.wait(10)
        worker.stop()
        release.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        release.set()
        worker.stop()
        worker.stop()
        thread.join(30)

    assert job.result(timeout=5) == "finished"
    assert waiting.state is JobState.QUEUED
    assert waiting.attempts == 0
    assert worker.stats.succeeded == 1
    assert app.store.workers(ttl=3600) == []


def test_unfinished_jobs_are_handed_back_and_late_outcomes_dropped(app: Conveyor) -> None:
    started, release, returned = threading.Event(), threading.Event(), threading.Event()

    @app.task()
    def blocking() -> str:
        started.set()
        release.wait(30)
        returned.set()
        return "too late"

    job = blocking.enqueue()
    worker = Worker(app, concurrency=1, shutdown_timeout=0.2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert started.wait(10)
        assert job.state is JobState.RUNNING
        worker.stop()
        thread.join(30)
        assert not thread.is_alive()

        record = job.record()
        assert (record.state, record.attempt, record.worker) == (JobState.QUEUED, 0, None)
        assert worker.stats.handed_back == 1
    finally:
        release.set()
        thread.join(30)

    assert returned.wait(10)
    wait_for(
        lambda: (
            not any(
                t.name.startswith("conveyor-sync") and t.is_alive() for t in threading.enumerate()
            )
        ),
        timeout=10,
        message="the worker's threads to end",
    )
    assert job.state is JobState.QUEUED

    app.run_worker(burst=True)
    assert job.result(timeout=5) == "too late"
    assert job.attempts == 1


def test_second_stop_hands_back_at_once(app: Conveyor) -> None:
    started, release = threading.Event(), threading.Event()

    @app.task()
    def blocking() -> None:
        started.set()
        release.wait(30)

    job = blocking.enqueue()
    worker = Worker(app, concurrency=1, shutdown_timeout=60.0)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert started.wait(10)
        worker.stop()
        worker.stop()
        thread.join(20)
        assert not thread.is_alive(), "a second stop must not wait for the grace period"
        assert job.state is JobState.QUEUED
        assert job.attempts == 0
    finally:
        release.set()
        thread.join(30)


class OutcomesHeldBack:
    """A store that keeps every `finish` waiting until `accept` is set, and
    counts what was claimed and asked for."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.accept = threading.Event()
        self.claimed = 0
        self.limits: list[int] = []

    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float
    ) -> list[JobRecord]:
        self.limits.append(limit)
        records = self._inner.claim(queues, worker, limit, lease)
        self.claimed += len(records)
        return records

    def finish(self, outcomes: Sequence[Outcome]) -> int:
        self.accept.wait(30)
        return self._inner.finish(outcomes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_worker_whose_outcomes_wait_stops_claiming_at_its_cap(app: Conveyor) -> None:
    """Outcomes not yet stored keep their jobs held: the worker claims past its
    running slots only up to `HELD_PER_SLOT` times its concurrency, never more
    at once than it can start, and goes on once the store takes outcomes."""

    @app.task()
    def quick() -> None:
        pass

    jobs = quick.enqueue_many([()] * 40)
    worker = Worker(app, concurrency=2)
    store = OutcomesHeldBack(worker.store)
    worker.store = cast(Store, store)
    thread = threading.Thread(target=worker.run)
    thread.start()
    cap = HELD_PER_SLOT * worker.concurrency
    try:
        wait_for(lambda: store.claimed >= cap, message=f"{cap} jobs claimed")
        time.sleep(0.5)  # what a worker ignoring its cap would claim meanwhile
        assert store.claimed == cap
        store.accept.set()
        wait_for(
            lambda: all(job.state is JobState.SUCCEEDED for job in jobs),
            message="every job to succeed once outcomes are taken",
        )
    finally:
        store.accept.set()
        worker.stop()
        thread.join(30)
    assert not thread.is_alive()
    assert max(store.limits) <= worker.concurrency


def test_purge_by_state_queue_age_and_limit(app: Conveyor) -> None:
    store = app.store
    succeeded = [store.enqueue([new_job(queue=q)])[0] for q in ("a", "a", "a", "b")]
    for record in succeeded:
        [claimed] = store.claim([record.queue], "w", 1, 60.0)
        store.finish([Outcome(claimed.id, 1, JobState.SUCCEEDED, result="null")])
    [dead] = store.enqueue([new_job(queue="a")])
    store.claim(["a"], "w", 1, 60.0)
    store.finish(
        [
            Outcome(
                dead.id,
                1,
                JobState.DEAD,
                reason="max_attempts",
                error=ErrorInfo(attempt=1, type="E", message="m"),
            )
        ]
    )
    [queued] = store.enqueue([new_job(queue="a")])

    def remaining() -> set[str]:
        return {record.id for record in store.list(limit=1000)}

    assert store.purge({JobState.SUCCEEDED}, older_than=3600) == 0
    assert store.purge({JobState.SUCCEEDED}, queue="a", limit=2) == 2
    assert len(remaining()) == 4
    assert store.purge({JobState.SUCCEEDED}, queue="a") == 1
    assert remaining() == {succeeded[3].id, dead.id, queued.id}

    # older_than counts from when the job finished, on the store's clock.
    purged = [0]

    def purge_old() -> bool:
        purged[0] += store.purge({JobState.SUCCEEDED, JobState.DEAD}, older_than=0.2)
        return purged[0] >= 2

    wait_for(purge_old, timeout=10, message="finished jobs to grow old enough")
    assert purged[0] == 2
    assert remaining() == {queued.id}
    assert store.get(dead.id) is None
    assert store.purge(set(), limit=10) == 0
    assert store.purge({JobState.QUEUED}) == 1
    assert remaining() == set()


def test_maintain_after_churn_keeps_every_job(app: Conveyor) -> None:
    """A store's own housekeeping (PostgreSQL vacuums once rows die) may run
    at any moment between claims and outcomes without touching a job."""
    store = app.store
    store.maintain()
    jobs = store.enqueue([new_job() for _ in range(3_000)])
    for _ in range(30):
        claimed = store.claim(["default"], "w", 100, 60.0)
        store.maintain()
        store.finish([Outcome(r.id, r.attempt, JobState.SUCCEEDED, result="1") for r in claimed])
    left = store.enqueue([new_job() for _ in range(5)])
    time.sleep(1.1)  # past the stores' own throttle, so this call may do its work
    store.maintain()
    store.maintain()

    assert {get(store, job.id).state for job in jobs} == {JobState.SUCCEEDED}
    assert [r.id for r in store.claim(["default"], "w", 10, 60.0)] == [job.id for job in left]
