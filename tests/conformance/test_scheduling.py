"""Delays, ``at=`` times and cancellation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from conveyor import Conveyor, JobFailed, JobState
from conveyor.job import Outcome
from tests.helpers import Calls, get, new_job, wait_for


def test_delayed_job_does_not_run_early(app: Conveyor) -> None:
    ran = Calls()

    @app.task()
    def remind(text: str) -> str:
        ran.add(text)
        return text

    job = remind.options(delay=2).enqueue("later")
    now_job = remind.enqueue("now")
    record = job.record()
    assert record.state is JobState.SCHEDULED
    assert 1.5 <= record.run_at - record.created_at <= 2.5

    app.run_worker(burst=True)
    assert ran.items == ["now"]
    assert job.state is JobState.SCHEDULED
    assert now_job.state is JobState.SUCCEEDED

    wait_for(lambda: time.time() > record.run_at, timeout=10, message="the delay to pass")
    app.run_worker(burst=True)

    assert job.result(timeout=5) == "later"
    assert ran.items == ["now", "later"]
    finished = job.record()
    assert finished.started_at is not None and finished.started_at >= record.run_at


def test_delay_as_timedelta_and_task_default(app: Conveyor) -> None:
    @app.task(delay=timedelta(minutes=5))
    def digest() -> None:
        return None

    default = digest.enqueue()
    shorter = digest.options(delay=timedelta(seconds=30)).enqueue()
    immediate = digest.options(delay=0).enqueue()

    assert 290 <= default.record().run_at - default.record().created_at <= 310
    assert 25 <= shorter.record().run_at - shorter.record().created_at <= 35
    assert [default.state, shorter.state, immediate.state] == [
        JobState.SCHEDULED,
        JobState.SCHEDULED,
        JobState.QUEUED,
    ]


def test_at_a_future_time_waits_for_it(app: Conveyor) -> None:
    ran = Calls()

    @app.task()
    def launch(name: str) -> None:
        ran.add(name)

    when = datetime.now(UTC) + timedelta(seconds=1)
    job = launch.options(at=when).enqueue("rocket")
    record = job.record()
    assert record.state is JobState.SCHEDULED
    assert record.run_at == pytest.approx(when.timestamp(), abs=0.01)

    app.run_worker(burst=True)
    assert ran.items == []

    wait_for(lambda: time.time() > record.run_at, timeout=10, message="the time to come")
    app.run_worker(burst=True)
    assert ran.items == ["rocket"]
    assert job.state is JobState.SUCCEEDED


def test_at_in_other_time_zones_and_in_the_past(app: Conveyor) -> None:
    @app.task()
    def noop() -> None:
        return None

    tokyo = timezone(timedelta(hours=9))
    future = datetime.now(tokyo) + timedelta(hours=1)
    past = datetime.now(UTC) - timedelta(hours=1)

    scheduled = noop.options(at=future).enqueue()
    overdue = noop.options(at=past).enqueue()

    assert scheduled.record().run_at == pytest.approx(future.timestamp(), abs=0.01)
    assert scheduled.state is JobState.SCHEDULED
    assert overdue.state is JobState.QUEUED
    app.run_worker(burst=True)
    assert overdue.state is JobState.SUCCEEDED
    assert scheduled.state is JobState.SCHEDULED


def test_naive_datetime_is_refused(app: Conveyor) -> None:
    @app.task()
    def noop() -> None:
        return None

    with pytest.raises(ValueError, match="timezone"):
        noop.options(at=datetime.now() + timedelta(seconds=5))
    with pytest.raises(ValueError, match="timezone"):

        @app.task(at=datetime(2030, 1, 1))
        def never() -> None:
            return None

    assert app.store.list() == []


def test_negative_delay_is_refused(app: Conveyor) -> None:
    @app.task()
    def noop() -> None:
        return None

    with pytest.raises(ValueError, match="delay"):
        noop.options(delay=-1)
    with pytest.raises(ValueError, match="delay"):
        noop.options(delay=timedelta(seconds=-1))


def test_unknown_enqueue_option_is_refused(app: Conveyor) -> None:
    @app.task()
    def noop() -> None:
        return None

    with pytest.raises(TypeError, match="retry_on"):
        noop.options(retry_on=(ValueError,))
    with pytest.raises(TypeError, match="colour"):
        noop.options(colour="blue")


def test_cancel_a_queued_job(app: Conveyor) -> None:
    ran = Calls()

    @app.task()
    def send(n: int) -> None:
        ran.add(n)

    cancelled = send.enqueue(1)
    kept = send.enqueue(2)

    assert cancelled.cancel() is True
    record = cancelled.record()
    assert record.state is JobState.CANCELLED
    assert record.reason == "cancelled"

    app.run_worker(burst=True)

    assert ran.items == [2]
    assert kept.state is JobState.SUCCEEDED
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.attempts == 0
    with pytest.raises(JobFailed) as caught:
        cancelled.result(timeout=5)
    assert caught.value.state is JobState.CANCELLED


def test_cancel_a_scheduled_job(app: Conveyor) -> None:
    ran = Calls()

    @app.task()
    def send(n: int) -> None:
        ran.add(n)

    job = send.options(delay=0.5).enqueue(1)
    assert job.state is JobState.SCHEDULED
    assert job.cancel() is True
    assert job.state is JobState.CANCELLED

    record = job.record()
    wait_for(lambda: time.time() > record.run_at, timeout=10, message="the delay to pass")
    app.run_worker(burst=True)

    assert ran.items == []
    assert job.state is JobState.CANCELLED


def test_cancel_of_a_finished_job_returns_false_and_of_a_running_one_true(
    app: Conveyor,
) -> None:
    @app.task(max_attempts=1)
    def outcome(fail: bool) -> str:
        if fail:
            raise RuntimeError("failed")
        return "done"

    succeeded = outcome.enqueue(False)
    dead = outcome.enqueue(True)
    app.run_worker(burst=True)
    cancelled = outcome.enqueue(False)
    assert cancelled.cancel() is True
    running = outcome.enqueue(False)
    [claimed] = app.store.claim(["default"], "busy-worker", 1, 60.0)
    assert claimed.id == running.id

    assert succeeded.cancel() is False
    assert dead.cancel() is False
    assert cancelled.cancel() is False
    assert app.store.cancel("no-such-job") is False
    assert running.cancel() is True

    assert succeeded.state is JobState.SUCCEEDED
    assert succeeded.result(timeout=5) == "done"
    assert dead.state is JobState.DEAD
    assert cancelled.state is JobState.CANCELLED
    # The running attempt's late outcome is fenced out.
    late = Outcome(running.id, claimed.attempt, JobState.SUCCEEDED, result='"done"')
    assert app.store.finish([late]) == 0
    record = running.record()
    assert record.state is JobState.CANCELLED
    assert record.lease_expires_at is None and record.worker is None


def test_scheduled_jobs_become_due_in_priority_order(app: Conveyor) -> None:
    store = app.store
    records = store.enqueue([new_job(priority=p, delay=0.3) for p in (1, 5, 3)])
    assert {record.state for record in records} == {JobState.SCHEDULED}
    assert store.claim(["default"], "w", 10, 30.0) == []

    latest = max(record.run_at for record in records)
    wait_for(lambda: time.time() > latest, timeout=10, message="the delays to pass")
    claimed = store.claim(["default"], "w", 10, 30.0)

    assert [record.priority for record in claimed] == [5, 3, 1]
    assert all(get(store, record.id).state is JobState.RUNNING for record in claimed)
