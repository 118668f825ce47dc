"""Periodic jobs: schedules every worker fires, each tick once in all.

Every worker runs the app's schedules; there is no scheduler process to deploy
or to lose. A tick becomes a job whose id is derived from the schedule and the
tick time, and stores keep one job per id, so workers that fire the same tick
at once make one job; `Store.mark_fired` records the tick, so a tick is not
fired again once its job has been pruned, and `conveyor cron list` can say
when each schedule last fired.

Missed ticks (no worker was running) follow the schedule's ``missed`` policy:
``"once"`` (the default) fires the latest missed tick once when a worker
starts, ``"skip"`` waits for the next tick.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from conveyor._ids import encode_bytes, encode_time
from conveyor.cron import Cron
from conveyor.cron import describe as describe_cron
from conveyor.job import NewJob

if TYPE_CHECKING:
    from conveyor.stores.base import Store
    from conveyor.task import Task

Missed = Literal["once", "skip"]


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a task's jobs are made: a cron expression in a zone, or every N seconds."""

    task: Task[Any, Any]
    cron: Cron | None
    every: float | None
    zone: ZoneInfo
    missed: Missed

    @classmethod
    def of(
        cls,
        task: Task[Any, Any],
        cron: str | None,
        every: float | timedelta | None,
        tz: str,
        missed: Missed,
    ) -> Schedule:
        if (cron is None) == (every is None):
            raise ValueError("a periodic task needs a cron expression or every=, not both")
        if missed not in ("once", "skip"):
            raise ValueError("missed must be 'once' or 'skip'")
        if _required(task):
            raise TypeError(f"{task.name}: a periodic task is called with no arguments")
        seconds = every.total_seconds() if isinstance(every, timedelta) else every
        if seconds is not None and seconds <= 0:
            raise ValueError("every= must be a positive number of seconds")
        schedule = cls(task, Cron.parse(cron) if cron else None, seconds, ZoneInfo(tz), missed)
        schedule.next_after(time.time())  # an expression that never matches fails here
        return schedule

    @property
    def name(self) -> str:
        return self.task.name

    def describe(self) -> str:
        """The schedule in words for `conveyor cron list` (the zone is shown apart)."""
        if self.cron is not None:
            return describe_cron(self.cron) or f"cron {self.cron.expression}"
        return f"every {_seconds_in_words(self.every or 0.0)}"

    @property
    def expression(self) -> str:
        """As written: the cron expression, or ``every=<seconds>``."""
        return self.cron.expression if self.cron is not None else f"every={self.every:g}"

    def next_after(self, instant: float) -> float:
        if self.cron is not None:
            return self.cron.next_after(instant, self.zone)
        every = self.every or 1.0
        return (math.floor(instant / every) + 1) * every

    def latest(self, now: float, after: float) -> float | None:
        """The last tick in ``(after, now]``: the one to fire, if any."""
        if self.cron is not None:
            return self.cron.latest_at_or_before(now, self.zone, after)
        every = self.every or 1.0
        tick = math.floor(now / every) * every
        return tick if tick > after else None

    def job(self, tick: float) -> NewJob:
        """The tick's job; its id is the same in every worker (see module doc)."""
        opts = self.task.default_options
        return NewJob(
            id=tick_id(self.name, tick),
            task=self.name,
            queue=opts.queue,
            payload=self.task.app.codec.encode_payload((), {}),
            priority=opts.priority,
            max_attempts=opts.max_attempts,
            timeout=opts.timeout,
        )


def tick_id(schedule: str, tick: float) -> str:
    """A job id shaped like the others (26 characters, sortable by time)."""
    digest = hashlib.sha256(schedule.encode()).digest()[:10]
    return encode_time(round(tick * 1000)) + encode_bytes(digest)


class Scheduler:
    """The periodic part of one worker: fire each schedule's due tick."""

    def __init__(self, store: Store, schedules: list[Schedule]) -> None:
        self.store = store
        self.schedules = schedules
        self._last: dict[str, float] = {}

    def start(self, now: float) -> None:
        """Load what fired before; apply each schedule's missed-fire policy."""
        fired = self.store.fired([s.name for s in self.schedules])
        for schedule in self.schedules:
            last = fired.get(schedule.name)
            if last is None or schedule.missed == "skip":
                # A new schedule starts with its next tick, not a past one.
                last = max(last or 0.0, now)
            self._last[schedule.name] = last

    def fire_due(self, now: float) -> list[tuple[Schedule, float]]:
        """Fire every tick that came since the last one seen; returns them."""
        fired = []
        for schedule in self.schedules:
            tick = schedule.latest(now, self._last[schedule.name])
            if tick is None:
                continue
            self.store.enqueue([schedule.job(tick)])  # one job per tick id, store-wide
            self.store.mark_fired(schedule.name, tick)
            self._last[schedule.name] = tick
            fired.append((schedule, tick))
        return fired

    def next_tick(self) -> float:
        return min(s.next_after(self._last[s.name]) for s in self.schedules)


def _required(task: Task[Any, Any]) -> bool:
    return any(
        p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in task.signature.parameters.values()
    )


def _seconds_in_words(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"
