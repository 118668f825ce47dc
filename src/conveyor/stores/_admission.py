"""`Store.admit` and `Store.release` in Python: the decision (`decide`, used
by the memory store) and the sequence of named statements that runs it inside
one SQLite transaction (`admit_with`, `release_with`). The Redis store's Lua
scripts and the PostgreSQL store's functions (one round trip each: what a
store spends between deciding and replying, the attempt starts late by)
follow the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from conveyor.stores.base import ADMIT_WAIT, PARK_SECONDS, ConcurrencyLimit, Lease, RateLimit

#: Runs one named statement of the store's queries folder with named
#: parameters, inside the caller's transaction; returns its rows as dicts.
Run = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class RateState:
    """A rate bucket: the next admission time nobody has reserved yet, when
    it last actually admitted an attempt, and which attempt that was
    (`attempt_key`)."""

    next_free: float | None = None
    last: float | None = None
    holder: str | None = None


def attempt_key(lease: Lease) -> str:
    """How a rate bucket names the attempt it admitted last."""
    return f"{lease.job_id}:{lease.attempt}"


@dataclass(frozen=True, slots=True)
class Admission:
    """What to write back after one admission check."""

    admitted: bool
    #: Seconds the admitted attempt waits for its slot before it starts.
    wait: float = 0.0
    #: Parked behind a full concurrency limit (else put back to `run_at`).
    parked: bool = False
    #: The job's new ``run_at`` when it is not admitted.
    run_at: float = 0.0
    #: The rate bucket afterwards.
    bucket: RateState = RateState()
    #: The job's reservation in the rate bucket afterwards (None: none).
    reservation: float | None = None


#: Stores keep times to the microsecond: a reservation made from another
#: admission's time may read back this much early.
SLACK = 0.001


def decide(
    now: float,
    *,
    concurrency_full: bool,
    interval: float | None,
    bucket: RateState,
    reservation: float | None,
    holder: str,
) -> Admission:
    """Concurrency first (a parked job keeps any reservation it has), then the
    rate. Admissions are at least `interval` apart in actual time, so a late
    attempt never lets the next one start too soon. The attempt's start is
    the bucket's next free time, or its reservation's time, whichever is
    later (never before the last admission plus `interval`); within
    `ADMIT_WAIT` it is admitted to wait for it, else it reserves that time
    and is put back until then.

    `holder` is the asking attempt's `attempt_key`. An attempt that asks
    again after missing the start it was admitted for, while it is still the
    bucket's last admission, starts now and the bucket counts from now: its
    lateness delays the ones after it by as much, where taking a new slot
    would leave its old one empty and send it behind every reservation."""
    if concurrency_full:
        return Admission(
            False, parked=True, run_at=now + PARK_SECONDS, bucket=bucket, reservation=reservation
        )
    if interval is None:
        return Admission(True)
    if (
        reservation is None
        and bucket.holder == holder
        and bucket.last is not None
        and bucket.last <= now
    ):
        anchored = RateState(max(now + interval, bucket.next_free or 0.0), now, holder)
        return Admission(True, bucket=anchored)
    earliest = now if bucket.last is None else bucket.last + interval - SLACK
    if reservation is not None:
        start = max(now, earliest, reservation)
        next_free = bucket.next_free
    else:
        start = max(now, earliest, now if bucket.next_free is None else bucket.next_free)
        next_free = start + interval
    if start - now <= ADMIT_WAIT:
        return Admission(True, wait=start - now, bucket=RateState(next_free, start, holder))
    return Admission(False, run_at=start, bucket=replace(bucket, next_free=next_free),
                     reservation=start)  # fmt: skip


def admit_with(
    run: Run,
    now: float,
    lease: Lease,
    rate: RateLimit | None,
    concurrency: ConcurrencyLimit | None,
) -> float | None:
    """`Store.admit` through the named statements ``running_at``,
    ``drop_stale_slots``, ``slot_holders``, ``rate_state``,
    ``set_rate_state``, ``reserve``, ``unreserve``, ``park``, ``put_back``
    and ``take_slot``; the caller holds the transaction (and, where the store
    needs one, a lock that serialises admissions in these buckets)."""
    job = {"id": lease.job_id, "attempt": lease.attempt}
    if not run("running_at", job):
        return None
    full = False
    if concurrency is not None:
        on_slots = {"bucket": concurrency.bucket, **job}
        run("drop_stale_slots", on_slots)
        [holders] = run("slot_holders", on_slots)
        full = not holders["mine"] and holders["held"] >= concurrency.limit
    state: dict[str, Any] = {"next_free": None, "last": None, "holder": None, "reservation": None}
    if rate is not None:
        [state] = run("rate_state", {"bucket": rate.bucket, **job})
    bucket = RateState(state["next_free"], state["last"], state["holder"])
    decision = decide(
        now,
        concurrency_full=full,
        interval=None if rate is None else rate.interval,
        bucket=bucket,
        reservation=state["reservation"],
        holder=attempt_key(lease),
    )
    if rate is not None:
        on_rate = {"bucket": rate.bucket, **job}
        if decision.bucket != bucket:
            after = decision.bucket
            run("set_rate_state", {**on_rate, "next_free": after.next_free, "last": after.last,
                                   "holder": after.holder})  # fmt: skip
        if decision.reservation is None:
            if state["reservation"] is not None:
                run("unreserve", on_rate)
        elif decision.reservation != state["reservation"]:
            run("reserve", {**on_rate, "at": decision.reservation})
    if not decision.admitted:
        if decision.parked and concurrency is not None:
            run("park", {"bucket": concurrency.bucket, **job})
        run("put_back", {"run_at": decision.run_at, **job})
        return None
    if concurrency is not None:
        run("take_slot", {"bucket": concurrency.bucket, **job})
    return decision.wait


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
