"""Rate and concurrency limits of a task, turned into the store's buckets.

A limit is declared on the task (``rate_limit="100/m"``, ``concurrency=2``,
optionally ``limit_key=`` a function of the job's arguments) and enforced by
the store across every worker: the worker asks `Store.admit` before an attempt
starts, so what counts is the store's clock and the store's buckets, never one
process's view.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.stores.base import ConcurrencyLimit, RateLimit

_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0,
    "h": 3600.0, "hour": 3600.0,
    "d": 86400.0, "day": 86400.0,
}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([a-z]+)\s*$")

#: A function of a job's arguments naming its bucket within the task's limits.
LimitKey = Callable[..., Any]


def parse_rate(spec: str) -> float:
    """Seconds between admissions for ``"N/unit"`` or ``"N/<k><unit>"``
    (``"100/m"``, ``"10/s"``, ``"5/10s"``): the period divided by N."""
    match = _RATE.match(spec.lower())
    if match is None or match.group(3) not in _UNITS or int(match.group(1)) < 1:
        raise ValueError(
            f"rate_limit {spec!r} is not like '10/s', '100/m', '5/10s' "
            f"(units: {', '.join(sorted(set(_UNITS)))})"
        )
    count, multiple, unit = match.groups()
    period = float(multiple or 1) * _UNITS[unit]
    if period <= 0:
        raise ValueError(f"rate_limit {spec!r} has an empty period")
    return period / int(count)


@dataclass(frozen=True, slots=True)
class TaskLimits:
    """A task's limits, ready to name a job's buckets."""

    task: str
    rate_interval: float | None = None
    concurrency: int | None = None
    key: LimitKey | None = None

    @classmethod
    def of(
        cls, task: str, rate_limit: str | None, concurrency: int | None, key: LimitKey | None
    ) -> TaskLimits | None:
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if key is not None and rate_limit is None and concurrency is None:
            raise ValueError("limit_key needs rate_limit or concurrency to key")
        if rate_limit is None and concurrency is None:
            return None
        interval = None if rate_limit is None else parse_rate(rate_limit)
        return cls(task, interval, concurrency, key)

    def bucket(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
        if self.key is None:
            return self.task
        return f"{self.task}:{self.key(*args, **kwargs)}"

    def for_job(
        self, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[RateLimit | None, ConcurrencyLimit | None]:
        bucket = self.bucket(args, kwargs)
        rate = None if self.rate_interval is None else RateLimit(bucket, self.rate_interval)
        concurrency = (
            None if self.concurrency is None else ConcurrencyLimit(bucket, self.concurrency)
        )
        return rate, concurrency
