"""Rate and concurrency limits, cancellation of running jobs, hard timeouts in
child processes, pause and resume, and topics."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from conveyor import Conveyor, JobFailed, JobState, current_job
from conveyor.job import Outcome
from conveyor.stores.base import ConcurrencyLimit, Lease, RateLimit
from tests.apps import process_tasks
from tests.helpers import (
    START_SLACK,
    Calls,
    Workers,
    get,
    most_in_window,
    new_job,
    wait_for,
    worker_info,
)

# -- rate limits ------------------------------------------------------------


def test_rate_limit_holds_across_workers_and_counts_no_attempt(app: Conveyor) -> None:
    started = Calls()

    @app.task(rate_limit="5/s")
    def call_partner(n: int) -> int:
        started.add(time.time())
        return n

    jobs = call_partner.enqueue_many([(n,) for n in range(50)])
    began = time.time()
    with Workers(app, 2, concurrency=10):
        wait_for(lambda: len(started) == 50, timeout=30, message="50 rate-limited jobs")
        elapsed = time.time() - began
        wait_for(lambda: all(j.state is JobState.SUCCEEDED for j in jobs), timeout=10)

    assert 9.0 <= elapsed <= 14.0, elapsed
    # Start times are taken in the task, after the store admitted it (START_SLACK).
    assert most_in_window(started.items, 1.0 - START_SLACK) <= 5  # type: ignore[arg-type]
    records = [j.record() for j in jobs]
    assert {r.attempt for r in records} == {1}
    assert all(r.errors == () for r in records)


def test_rate_limit_keeps_one_bucket_per_key(app: Conveyor) -> None:
    started: dict[str, list[float]] = {"a": [], "b": []}
    lock = threading.Lock()

    @app.task(rate_limit="4/s", limit_key=lambda account: account)
    def sync_account(account: str) -> None:
        with lock:
            started[account].append(time.time())

    sync_account.enqueue_many([(account,) for account in "ab" * 8])
    began = time.time()
    with Workers(app, 1, concurrency=8):
        wait_for(lambda: sum(map(len, started.values())) == 16, timeout=20)
    elapsed = time.time() - began

    for times in started.values():
        assert most_in_window(times, 1.0 - START_SLACK) <= 4
    # Two buckets run side by side: 8 jobs each at 4/s, not 16 at 4/s.
    assert elapsed < 3.4, elapsed


def test_admit_spaces_starts_and_reserves_beyond_a_short_wait(app: Conveyor) -> None:
    store = app.store
    store.enqueue([new_job() for _ in range(3)])
    first, second, third = store.claim(["default"], "w", 3, 30.0)
    limit = RateLimit("tests.bucket.reserve", interval=0.2)

    assert store.admit(Lease(first.id, first.attempt), rate=limit) == 0.0
    # The next slot is 0.2 s away: within ADMIT_WAIT, it waits in its worker.
    wait = store.admit(Lease(second.id, second.attempt), rate=limit)
    assert wait is not None and 0.1 < wait <= 0.2
    # The one after is 0.4 s away: it reserves that time and goes back.
    assert store.admit(Lease(third.id, third.attempt), rate=limit) is None
    back = get(store, third.id)
    assert back.state is JobState.SCHEDULED
    assert back.attempt == 0 and back.errors == ()
    assert 0.25 <= back.run_at - time.time() <= 0.45

    wait_for(lambda: time.time() > back.run_at, timeout=5)
    [again] = store.claim(["default"], "w", 1, 30.0)
    assert again.id == third.id and again.attempt == 1
    # Its reservation has come: it starts without waiting again.
    assert store.admit(Lease(again.id, again.attempt), rate=limit) == 0.0


def test_an_attempt_that_missed_its_start_starts_late_without_losing_its_turn(
    app: Conveyor,
) -> None:
    """A worker that overslept its slot asks again: while it is still the
    bucket's last admission it starts now, and the next start is spaced from
    then. Taking a new slot instead would leave its old one empty and send
    it behind every reservation (a busy worker thread waits for the GIL)."""
    store = app.store
    store.enqueue([new_job() for _ in range(4)])
    first, late, after, other = store.claim(["default"], "w", 4, 30.0)
    limit = RateLimit("tests.bucket.late", interval=0.2)
    assert store.admit(Lease(first.id, first.attempt), rate=limit) == 0.0
    wait = store.admit(Lease(late.id, late.attempt), rate=limit)
    assert wait is not None and wait > 0

    time.sleep(wait + 0.1)  # overslept by 0.1 s
    asked_again = time.time()
    assert store.admit(Lease(late.id, late.attempt), rate=limit) == 0.0
    # The next admission is spaced from the late start, not from the missed
    # slot (which would put it 0.1 s after `asked_again`).
    wait = store.admit(Lease(after.id, after.attempt), rate=limit)
    assert wait is not None
    assert asked_again + 0.2 - 0.02 <= time.time() + wait <= asked_again + 0.6

    # An attempt that is not the bucket's last admission gets no such turn:
    # starting now would squeeze the one admitted after it.
    for asking in (first, other):
        wait = store.admit(Lease(asking.id, asking.attempt), rate=limit)
        assert wait is None or wait > 0.1, wait


def test_admit_of_a_job_not_running_at_that_attempt_is_refused(app: Conveyor) -> None:
    store = app.store
    [record] = store.enqueue([new_job()])
    assert store.admit(Lease(record.id, 1), rate=RateLimit("tests.bucket.x", 1.0)) is None
    assert get(store, record.id).state is JobState.QUEUED


# -- concurrency limits -----------------------------------------------------


def test_concurrency_limit_is_never_exceeded(app: Conveyor) -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    @app.task(concurrency=2)
    def render(video: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return video

    jobs = render.enqueue_many([(n,) for n in range(10)])
    began = time.time()
    with Workers(app, 2, concurrency=5):
        wait_for(lambda: all(j.state is JobState.SUCCEEDED for j in jobs), timeout=30)
    elapsed = time.time() - began

    assert most == 2
    assert [j.result(timeout=1) for j in jobs] == list(range(10))
    assert {j.attempts for j in jobs} == {1}
    # Parked jobs are woken as slots free, not after the park timeout.
    assert elapsed < 5.0, elapsed


def test_concurrency_limit_per_key(app: Conveyor) -> None:
    running: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}
    together = 0
    lock = threading.Lock()

    @app.task(concurrency=1, limit_key=lambda account, n: account)
    def import_rows(account: str, n: int) -> None:
        nonlocal together
        with lock:
            running[account] += 1
            most[account] = max(most[account], running[account])
            together = max(together, sum(running.values()))
        time.sleep(0.15)
        with lock:
            running[account] -= 1

    jobs = import_rows.enqueue_many([(account, n) for n in range(4) for account in "ab"])
    with Workers(app, 1, concurrency=6):
        wait_for(lambda: all(j.state is JobState.SUCCEEDED for j in jobs), timeout=30)

    assert most == {"a": 1, "b": 1}
    assert together == 2


def test_release_wakes_parked_jobs_up_to_the_free_slots(app: Conveyor) -> None:
    store = app.store
    records = store.enqueue([new_job() for _ in range(3)])
    claimed = store.claim(["default"], "w", 3, 30.0)
    assert [r.id for r in claimed] == [r.id for r in records]
    limit = ConcurrencyLimit("tests.bucket.park", limit=1)
    holder, parked_1, parked_2 = claimed

    assert store.admit(Lease(holder.id, holder.attempt), concurrency=limit) == 0.0
    assert store.admit(Lease(parked_1.id, parked_1.attempt), concurrency=limit) is None
    assert store.admit(Lease(parked_2.id, parked_2.attempt), concurrency=limit) is None
    parked = get(store, parked_1.id)
    assert parked.state is JobState.SCHEDULED and parked.attempt == 0
    assert parked.run_at > time.time() + 10  # until woken (or the park timeout)

    assert store.release(limit) == 0  # the holder still runs
    assert store.claim(["default"], "w", 3, 30.0) == []
    store.finish([Outcome(holder.id, holder.attempt, JobState.SUCCEEDED, result="null")])
    assert store.release(limit) == 1
    [woken] = store.claim(["default"], "w", 3, 30.0)
    assert woken.id == parked_1.id  # oldest parked first
    assert store.admit(Lease(woken.id, woken.attempt), concurrency=limit) == 0.0


# -- cancellation of running jobs -------------------------------------------


def test_cancel_stops_a_running_async_job(app: Conveyor) -> None:
    events = Calls()

    @app.task()
    async def stream(n: int) -> None:
        events.add("started")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            events.add("cancelled")
            raise

    @app.task()
    def after() -> str:
        return "still working"

    job = stream.enqueue(1)
    with Workers(app, 1) as workers:
        wait_for(lambda: events.items == ["started"], timeout=10)
        assert job.state is JobState.RUNNING
        assert job.cancel() is True
        wait_for(lambda: "cancelled" in events.items, timeout=10, message="the coroutine to stop")
        assert after.enqueue().result(timeout=10) == "still working"
    assert job.state is JobState.CANCELLED
    assert workers.workers[0].stats.stopped == 1
    with pytest.raises(JobFailed):
        job.result(timeout=1)


def test_cancel_of_a_running_sync_job_is_seen_through_current_job(app: Conveyor) -> None:
    seen = Calls()

    @app.task()
    def long_export(n: int) -> str:
        seen.add(current_job().id)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if current_job().cancelled:
                seen.add("cancelled")
                return "stopped early"
            time.sleep(0.02)
        return "finished"

    job = long_export.enqueue(1)
    with Workers(app, 1):
        wait_for(lambda: seen.items == [job.id], timeout=10)
        assert job.cancel() is True
        wait_for(lambda: "cancelled" in seen.items, timeout=10, message="the task to notice")
    record = job.record()
    assert record.state is JobState.CANCELLED  # the late outcome did not overwrite it
    assert record.result is None


def test_cancel_kills_a_running_process_job(app: Conveyor) -> None:
    spin = app.task(process=True, name="tests.flow.spin_cancel")(process_tasks.spin)
    pid = app.task(process=True, name="tests.flow.pid_cancel")(process_tasks.pid)

    job = spin.enqueue(60)
    with Workers(app, 1, concurrency=2) as workers:
        wait_for(lambda: job.state is JobState.RUNNING, timeout=20)
        time.sleep(0.5)  # into the loop
        assert job.cancel() is True
        stats = workers.workers[0].stats
        wait_for(lambda: stats.stopped == 1, timeout=10, message="the child to be killed")
        assert isinstance(pid.enqueue().result(timeout=30), int)
    assert job.state is JobState.CANCELLED


# -- hard timeouts ----------------------------------------------------------


def test_process_job_in_an_endless_loop_is_killed_at_its_timeout(app: Conveyor) -> None:
    spin = app.task(process=True, timeout=1.0, max_attempts=1, name="tests.flow.spin")(
        process_tasks.spin
    )
    pid = app.task(process=True, name="tests.flow.pid")(process_tasks.pid)

    stuck = spin.enqueue(3600)
    began = time.monotonic()
    with Workers(app, 1, concurrency=2):
        with pytest.raises(JobFailed) as failed:
            stuck.result(timeout=30)
        took = time.monotonic() - began
        # The worker carries on, in fresh children.
        assert isinstance(pid.enqueue().result(timeout=30), int)
        assert spin.enqueue(0.01).result(timeout=30) == "spun"

    assert failed.value.reason == "timeout"
    assert failed.value.error is not None
    assert "AttemptTimeout" in failed.value.error.type
    assert took < 15, took


def test_process_job_errors_come_back_with_their_type(app: Conveyor) -> None:
    fail = app.task(
        process=True, max_attempts=3, no_retry_on=(ValueError,), name="tests.flow.fail"
    )(process_tasks.fail)
    unserialisable = app.task(process=True, name="tests.flow.unserialisable")(
        process_tasks.unserialisable
    )

    value_error = fail.enqueue("value")
    exited = fail.options(max_attempts=1).enqueue("exit")
    bad_result = unserialisable.enqueue()
    with Workers(app, 1, concurrency=3):
        for job in (value_error, exited, bad_result):
            wait_for(lambda job=job: job.state is JobState.DEAD, timeout=60)

    record = value_error.record()
    assert record.reason == "not_retried"  # the exception's type crossed over
    assert record.errors[-1].type == "ValueError"
    assert "bad value in a child" in record.errors[-1].traceback
    died = exited.record()
    assert died.reason == "max_attempts"
    assert "ChildDied" in died.errors[-1].type
    assert bad_result.record().reason == "result_encode_error"


# -- pause and resume -------------------------------------------------------


def test_a_paused_queue_is_not_drained_until_resumed(app: Conveyor) -> None:
    ran = Calls()

    @app.task(queue="mail")
    def send(n: int) -> None:
        ran.add(n)

    @app.task()
    def other() -> str:
        return "ok"

    app.pause("mail")
    assert "mail" in app.store.paused()
    jobs = send.enqueue_many([(n,) for n in range(3)])
    elsewhere = other.enqueue()
    app.run_worker(burst=True, queues=["mail", "default"])
    assert ran.items == []
    assert {j.state for j in jobs} == {JobState.QUEUED}
    assert elsewhere.state is JobState.SUCCEEDED

    app.resume("mail")
    assert "mail" not in app.store.paused()
    app.run_worker(burst=True, queues=["mail"])
    assert sorted(ran.items) == [0, 1, 2]  # type: ignore[type-var]


def test_resume_wakes_a_waiting_worker(app: Conveyor) -> None:
    ran = Calls()

    @app.task(queue="mail")
    def send(n: int) -> None:
        ran.add(n)

    app.pause("mail")
    send.enqueue(1)
    with Workers(app, 1, queues=["mail"]):
        time.sleep(0.5)
        assert ran.items == []
        app.resume("mail")
        wait_for(lambda: ran.items == [1], timeout=5)


# -- topics -----------------------------------------------------------------


def test_publish_makes_one_job_per_subscriber(app: Conveyor) -> None:
    got = Calls()

    @app.task(topics=["user.created"])
    def send_welcome(user_id: int) -> None:
        got.add(("welcome", user_id))

    @app.task(topics=["user.created", "user.updated"], queue="crm")
    def sync_crm(user_id: int) -> None:
        got.add(("crm", user_id))

    jobs = app.publish("user.created", user_id=42)
    assert len(jobs) == 2
    assert {j.record().task for j in jobs} == {send_welcome.name, sync_crm.name}
    assert app.publish("nobody.listens", user_id=1) == []
    app.run_worker(burst=True, queues=["default", "crm"])
    assert sorted(got.items) == [("crm", 42), ("welcome", 42)]  # type: ignore[type-var]


def test_publish_stores_nothing_when_a_subscriber_rejects_the_arguments(app: Conveyor) -> None:
    @app.task(topics=["order.paid"])
    def receipt(order_id: int) -> None: ...

    @app.task(topics=["order.paid"])
    def ship(order_id: int, address: str) -> None: ...

    with pytest.raises(TypeError, match="address"):
        app.publish("order.paid", order_id=7)
    assert app.store.list() == []


# -- the store's rules ------------------------------------------------------


def test_enqueueing_a_stored_id_again_returns_the_stored_job(app: Conveyor) -> None:
    store = app.store
    job = new_job(priority=1)
    [first] = store.enqueue([job])
    [again, other] = store.enqueue([new_job(job_id=job.id, priority=9), new_job()])
    assert again == first
    [alone] = store.enqueue([new_job(job_id=job.id, priority=5)])  # a batch of one
    assert alone == first
    assert get(store, job.id).priority == 1
    assert get(store, other.id).state is JobState.QUEUED
    assert len(store.list()) == 2


def test_heartbeat_reports_the_leases_it_could_not_extend(app: Conveyor) -> None:
    store = app.store
    store.enqueue([new_job(), new_job()])
    kept, cancelled = store.claim(["default"], "w", 2, 30.0)
    assert store.cancel(cancelled.id) is True
    lost = store.heartbeat(
        worker_info(),
        [Lease(kept.id, kept.attempt), Lease(cancelled.id, cancelled.attempt)],
        30.0,
    )
    assert lost == [cancelled.id]
    record = get(store, cancelled.id)
    assert record.state is JobState.CANCELLED and record.reason == "cancelled"


def test_a_limit_key_that_raises_fails_the_attempt_and_the_worker_carries_on(
    app: Conveyor,
) -> None:
    def account_of(account: str) -> str:
        return {"known": "a"}[account]  # KeyError for any other account

    @app.task(concurrency=1, limit_key=account_of, max_attempts=1)
    def sync_account(account: str) -> str:
        return account

    bad = sync_account.enqueue("unknown")
    good = sync_account.enqueue("known")
    app.run_worker(burst=True)

    record = bad.record()
    assert record.state is JobState.DEAD and record.reason == "max_attempts"
    assert record.errors[-1].type == "KeyError"
    assert good.result(timeout=5) == "known"
