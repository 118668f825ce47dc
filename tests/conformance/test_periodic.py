"""Periodic jobs: each tick fires once however many workers run."""

from __future__ import annotations

import collections
import time
import uuid

from conveyor import Conveyor, JobState, current_job
from conveyor.periodic import tick_id
from tests.helpers import Calls, Workers, wait_for


def test_every_second_with_three_workers_fires_each_tick_once(app: Conveyor) -> None:
    runs = Calls()
    name = f"tests.periodic.tick-{uuid.uuid4().hex[:8]}"  # the store remembers fires

    @app.periodic(every=1, name=name)
    def tick() -> None:
        runs.add(current_job().id)

    with Workers(app, 3, concurrency=2):
        began = time.time()
        time.sleep(10)
        ended = time.time()
        # Let the last tick's job finish.
        time.sleep(0.5)

    jobs = app.store.list(task=name, limit=-1)
    fired = [j for j in jobs if j.created_at < ended]
    assert 9 <= len(fired) <= 11, len(fired)
    per_job = collections.Counter(runs.items)
    assert max(per_job.values()) == 1, per_job  # never twice for one tick
    ticks = {round(j.created_at) for j in jobs}
    assert len(ticks) == len(jobs)
    assert all(j.state is JobState.SUCCEEDED for j in jobs if j.created_at < ended - 1)
    last = app.store.fired([name])[name]
    assert began <= last <= ended + 1
    assert tick_id(name, last) in {j.id for j in jobs}


def test_a_new_schedule_waits_for_its_next_tick_and_missed_ticks_fire_once(
    app: Conveyor,
) -> None:
    name = f"tests.periodic.missed-{uuid.uuid4().hex[:8]}"

    @app.periodic(every=3600, name=name)
    def hourly() -> None: ...

    # Never fired: starting a worker does not fire the tick that just passed.
    with Workers(app, 1):
        time.sleep(0.5)
    assert app.store.list(task=name) == []

    # Fired three hours ago, nothing since: one catch-up job, not three.
    now = time.time()
    app.store.mark_fired(name, now - now % 3600 - 3 * 3600)
    with Workers(app, 2):
        wait_for(lambda: len(app.store.list(task=name)) == 1, timeout=10)
        time.sleep(0.5)
    [job] = app.store.list(task=name)
    assert job.id == tick_id(name, now - now % 3600)
    assert len(app.store.list(task=name)) == 1


def test_missed_skip_fires_nothing_for_ticks_that_passed(app: Conveyor) -> None:
    name = f"tests.periodic.skip-{uuid.uuid4().hex[:8]}"

    @app.periodic(every=3600, name=name, missed="skip")
    def hourly() -> None: ...

    now = time.time()
    app.store.mark_fired(name, now - now % 3600 - 3 * 3600)
    with Workers(app, 1):
        time.sleep(0.5)
    assert app.store.list(task=name) == []


def test_mark_fired_keeps_the_latest_tick(app: Conveyor) -> None:
    store = app.store
    name = f"tests.periodic.mark-{uuid.uuid4().hex[:8]}"
    assert store.fired([name]) == {}
    store.mark_fired(name, 2000.0)
    store.mark_fired(name, 1000.0)
    assert store.fired([name, "tests.periodic.unknown"]) == {name: 2000.0}
