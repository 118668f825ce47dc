"""The admission decision of `Store.admit`, once for the stores that run it
in Python inside their own atomic step (memory, SQLite, PostgreSQL); the
Redis store's Lua script follows the same rules."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.stores.base import PARK_SECONDS


@dataclass(frozen=True, slots=True)
class Admission:
    """What to write back after one admission check."""

    admitted: bool
    #: Parked behind a full concurrency limit (else put back to `run_at`).
    parked: bool = False
    #: The job's new ``run_at`` when it is not admitted.
    run_at: float = 0.0
    #: The rate bucket's next admission time afterwards (None: no rate limit).
    next_admission: float | None = None
    #: The job's reservation in the rate bucket afterwards (None: none).
    reservation: float | None = None


def decide(
    now: float,
    *,
    concurrency_full: bool,
    rate_interval: float | None,
    next_admission: float | None,
    reservation: float | None,
) -> Admission:
    """Concurrency first (a parked job keeps any reservation it has), then
    the rate: a reservation that has come admits; without one, the bucket's
    next admission time admits if passed, else is reserved for this job."""
    if concurrency_full:
        return Admission(
            False, parked=True, run_at=now + PARK_SECONDS,
            next_admission=next_admission, reservation=reservation,
        )  # fmt: skip
    if rate_interval is None:
        return Admission(True)
    if reservation is not None:
        if reservation > now:  # woken early from a park: back to its time
            return Admission(
                False, run_at=reservation, next_admission=next_admission, reservation=reservation
            )
        return Admission(True, next_admission=next_admission)
    at = now if next_admission is None else next_admission
    if at > now:
        return Admission(False, run_at=at, next_admission=at + rate_interval, reservation=at)
    return Admission(True, next_admission=now + rate_interval)
