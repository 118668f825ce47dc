"""Cron expressions, periodic schedules and limit specs: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from conveyor import Conveyor
from conveyor.cron import Cron
from conveyor.limits import parse_rate
from conveyor.periodic import tick_id

PARIS = ZoneInfo("Europe/Paris")


def fires(expression: str, start: str, count: int, zone: ZoneInfo = PARIS) -> list[str]:
    cron, instant, out = Cron.parse(expression), datetime.fromisoformat(start).timestamp(), []
    for _ in range(count):
        instant = cron.next_after(instant, zone)
        out.append(datetime.fromtimestamp(instant, zone).isoformat())
    return out


def test_steps_ranges_lists_and_names() -> None:
    assert fires("*/20 * * * *", "2026-11-23T10:05:00+01:00", 3) == [
        "2026-11-23T10:20:00+01:00", "2026-11-23T10:40:00+01:00", "2026-11-23T11:00:00+01:00",
    ]  # fmt: skip
    assert fires("0 9 * * mon-fri", "2026-11-20T12:00:00+01:00", 2) == [
        "2026-11-23T09:00:00+01:00", "2026-11-24T09:00:00+01:00",
    ]  # fmt: skip
    assert fires("30 8 1 jan,jul *", "2026-11-23T00:00:00+01:00", 2) == [
        "2027-01-01T08:30:00+01:00", "2027-07-01T08:30:00+02:00",
    ]  # fmt: skip
    assert fires("@daily", "2026-11-23T10:00:00+00:00", 1, ZoneInfo("UTC")) == [
        "2026-11-24T00:00:00+00:00"
    ]


def test_both_day_fields_restricted_match_either() -> None:
    # The 1st and 15th, and every Friday (as in every Unix cron).
    assert fires("0 0 1,15 * 5", "2026-11-01T12:00:00+01:00", 4) == [
        "2026-11-06T00:00:00+01:00", "2026-11-13T00:00:00+01:00",
        "2026-11-15T00:00:00+01:00", "2026-11-20T00:00:00+01:00",
    ]  # fmt: skip


def test_a_time_the_spring_change_skips_fires_later_by_the_gap() -> None:
    # Paris skips 02:00-03:00 on 29 March 2026.
    assert fires("30 2 * * *", "2026-03-28T12:00:00+01:00", 2) == [
        "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00",
    ]  # fmt: skip
    # Hourly: 02:00 does not exist and lands on 03:00, which fires once.
    assert fires("0 * * * *", "2026-03-29T01:30:00+01:00", 2) == [
        "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00",
    ]  # fmt: skip


def test_a_time_the_autumn_change_repeats_fires_once() -> None:
    # Paris runs 02:00-03:00 twice on 25 October 2026.
    assert fires("30 2 * * *", "2026-10-24T12:00:00+02:00", 2) == [
        "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00",
    ]  # fmt: skip


def test_latest_fire_at_or_before() -> None:
    cron = Cron.parse("0 3 1 * *")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC).timestamp()
    latest = cron.latest_at_or_before(now, PARIS, after=0.0)
    assert latest == datetime(2026, 11, 1, 3, 0, tzinfo=PARIS).timestamp()
    assert cron.latest_at_or_before(now, PARIS, after=latest) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * *", "needs 5 fields"),
        ("61 * * * *", "outside 0-59"),
        ("* * * foo *", "not a number or a name"),
        ("*/0 * * * *", "positive"),
        ("5-1 * * * *", "backwards"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cron.parse(expression)


def test_periodic_rejects_what_cannot_run() -> None:
    app = Conveyor("memory://")
    with pytest.raises(ValueError, match="never matches"):
        app.periodic("0 0 30 2 *")(lambda: None)
    with pytest.raises(ValueError, match="not both"):
        app.periodic("* * * * *", every=5)(lambda: None)
    with pytest.raises(TypeError, match="no arguments"):

        @app.periodic(every=5)
        def needs(account: str) -> None: ...

    assert app.tasks == {} and app.schedules == {}


def test_tick_ids_are_stable_per_schedule_and_tick() -> None:
    assert tick_id("a", 60.0) == tick_id("a", 60.0)
    assert len({tick_id("a", 60.0), tick_id("a", 120.0), tick_id("b", 60.0)}) == 3
    assert len(tick_id("a", 60.0)) == 26
    assert tick_id("a", 60.0) < tick_id("a", 120.0)  # sortable by time, like any id


@pytest.mark.parametrize(
    ("spec", "interval"),
    [("5/s", 0.2), ("100/m", 0.6), ("10/5s", 0.5), ("1/hour", 3600.0), ("3/d", 28800.0)],
)
def test_rate_specs(spec: str, interval: float) -> None:
    assert parse_rate(spec) == pytest.approx(interval)


@pytest.mark.parametrize("spec", ["5", "0/s", "5/y", "five/s", "5/0s"])
def test_bad_rate_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        parse_rate(spec)


def test_task_limit_options_are_checked() -> None:
    app = Conveyor("memory://")
    with pytest.raises(ValueError, match="limit_key needs"):
        app.task(limit_key=lambda x: x)(lambda x: None)
    with pytest.raises(ValueError, match="concurrency"):
        app.task(concurrency=0)(lambda: None)
    with pytest.raises(ValueError, match="module level"):

        @app.task(process=True)
        def local() -> None: ...
