"""`Store.admit` and `Store.release`, once for the stores that run them in
Python inside their own atomic step: the decision (`decide`, also used by the
memory store) and, for the SQL stores, the sequence of named statements
(`admit_with`, `release_with`). The Redis store's Lua scripts follow the same
rules."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from conveyor.stores.base import PARK_SECONDS, ConcurrencyLimit, Lease, RateLimit

#: Runs one named statement of the store's queries folder with named
#: parameters, inside the caller's transaction; returns its rows as dicts.
Run = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]


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


def admit_with(
    run: Run,
    now: float,
    lease: Lease,
    rate: RateLimit | None,
    concurrency: ConcurrencyLimit | None,
) -> bool:
    """`Store.admit` through the named statements ``running_at``,
    ``drop_stale_slots``, ``slot_holders``, ``rate_state``,
    ``set_next_admission``, ``reserve``, ``unreserve``, ``park``, ``put_back``
    and ``take_slot``; the caller holds the transaction (and, where the store
    needs one, a lock that serialises admissions in these buckets)."""
    job = {"id": lease.job_id, "attempt": lease.attempt}
    if not run("running_at", job):
        return False
    full = False
    if concurrency is not None:
        on_slots = {"bucket": concurrency.bucket, **job}
        run("drop_stale_slots", on_slots)
        [holders] = run("slot_holders", on_slots)
        full = not holders["mine"] and holders["held"] >= concurrency.limit
    state: dict[str, Any] = {"next_admission": None, "reservation": None}
    if rate is not None:
        [state] = run("rate_state", {"bucket": rate.bucket, **job})
    decision = decide(
        now,
        concurrency_full=full,
        rate_interval=None if rate is None else rate.interval,
        next_admission=state["next_admission"],
        reservation=state["reservation"],
    )
    if rate is not None:
        on_rate = {"bucket": rate.bucket, **job}
        if decision.next_admission != state["next_admission"]:
            run("set_next_admission", {**on_rate, "at": decision.next_admission})
        if decision.reservation is None:
            if state["reservation"] is not None:
                run("unreserve", on_rate)
        elif decision.reservation != state["reservation"]:
            run("reserve", {**on_rate, "at": decision.reservation})
    if not decision.admitted:
        if decision.parked and concurrency is not None:
            run("park", {"bucket": concurrency.bucket, **job})
        run("put_back", {"run_at": decision.run_at, **job})
        return False
    if concurrency is not None:
        run("take_slot", {"bucket": concurrency.bucket, **job})
    return True


def release_with(run: Run, now: float, limit: ConcurrencyLimit) -> int:
    """`Store.release` through ``drop_stale_slots``, ``slot_holders``,
    ``wake_parked`` (returns the woken ids) and ``unpark``."""
    bucket = {"bucket": limit.bucket, "id": "", "attempt": 0}
    run("drop_stale_slots", bucket)
    [holders] = run("slot_holders", bucket)
    free = max(0, limit.limit - holders["held"])
    woken = [row["id"] for row in run("wake_parked", {**bucket, "now": now, "limit": free})]
    run("unpark", {**bucket, "woken": json.dumps(woken)})
    return len(woken)
