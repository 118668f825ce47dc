"""The Store protocol: the few atomic primitives every store implements.

Each method is one round trip (one SQL transaction, one Lua script) and one
atomic step. Stores only persist: they never decide retries, compute backoff or
interpret payloads. Those live above the seam (`conveyor.worker`), once.

Rules every store follows, and the conformance suite checks:

- Times are the store's own clock (epoch seconds). Callers pass delays; the
  store decides what is due and when a lease has expired.
- State changes are guarded by `conveyor.job.TRANSITIONS`: a write whose job
  is not in a source state of the target does nothing.
- ``attempt`` is the fencing token of a lease. `claim` increments it; an
  outcome or heartbeat for an older attempt is ignored.
- Claim order is ``priority`` descending, then ``run_at``, then enqueue order.
- A paused queue is never claimed from.
- A job id is stored once: enqueueing an id the store holds gives its record
  back, so a producer may re-send a batch whose reply it lost.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from conveyor.job import JobRecord, JobState, NewJob, Outcome


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker as the store sees it (for `conveyor status`)."""

    id: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started_at: float
    last_seen: float = 0.0


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue's figures, computed in one pass by the store."""

    queue: str
    counts: dict[JobState, int] = field(default_factory=dict)
    #: Seconds the oldest due job has waited; 0.0 when none is waiting.
    oldest_wait: float = 0.0
    #: Jobs that finished (succeeded or dead) in the last 60 seconds.
    finished_last_minute: int = 0


@dataclass(frozen=True, slots=True)
class Lease:
    """A job a worker holds: its id and the attempt that fences it."""

    job_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most one admission in `bucket` every `interval` seconds, for every
    worker sharing the store (``"5/s"`` is 0.2 s: never more than 5 in a second)."""

    bucket: str
    interval: float


@dataclass(frozen=True, slots=True)
class ConcurrencyLimit:
    """At most `limit` attempts running at once in `bucket`, store-wide."""

    bucket: str
    limit: int


#: Seconds an admitted attempt may be told to wait for its rate slot, in its
#: worker, rather than go back to the store and be claimed again.
ADMIT_WAIT = 0.25

#: Seconds a job waits parked behind a full `ConcurrencyLimit` before it is
#: tried again even if no `Store.release` woke it (its waker may have died).
PARK_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a store can do, stated as data so tests can ask rather than guess."""

    #: Several processes (or machines) share the jobs: kill -9 tests apply.
    shared: bool = True
    #: `Store.enqueue` takes the caller's connection and writes in its transaction.
    transactional_enqueue: bool = False


class Store(Protocol):
    """Persistence of jobs. Thread-safe: a worker calls it from several threads."""

    url: str
    capabilities: Capabilities

    def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> builtins.list[JobRecord]:
        """Insert jobs atomically, all or none; one record back per input.

        A job whose ``key`` matches a job in an active state (scheduled,
        queued, running) is not inserted: that existing job's record comes back
        in its place.

        With `connection` (a store that has `Capabilities.transactional_enqueue`
        takes its own driver's connection), the jobs are written inside the
        caller's open transaction and neither committed nor rolled back here:
        they exist if and when the caller commits.
        """
        ...

    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float
    ) -> builtins.list[JobRecord]:
        """Move up to `limit` due jobs to ``running`` for `worker`, best first.

        Scheduled jobs whose time has come are made ``queued`` first. Each
        claimed job's attempt is incremented and its lease set to expire after
        `lease` seconds. The records returned are as they are after the claim.
        """
        ...

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float
    ) -> builtins.list[str]:
        """Record `worker` as alive and extend its leases by `lease` seconds from now.

        Returns the ids of the leases it could not extend: their job is no
        longer running at that attempt (cancelled, or recovered after the lease
        expired), so the worker stops those attempts.
        """
        ...

    def admit(
        self,
        lease: Lease,
        *,
        rate: RateLimit | None = None,
        concurrency: ConcurrencyLimit | None = None,
    ) -> float | None:
        """Let a claimed attempt start under its limits, or put its job back, in one step.

        Concurrency first: the attempt takes a slot if fewer than ``limit``
        attempts hold one (a slot frees itself when its attempt stops
        running); otherwise the job is *parked*. Then the rate: admissions in
        a bucket are at least `RateLimit.interval` apart in actual time. The
        attempt starts at the bucket's next free time if that is at most
        `ADMIT_WAIT` away (or its reservation's time, when it holds one);
        otherwise it reserves that time and its job is put back until then.
        A job put back or parked goes to ``scheduled`` with its attempt given
        back and no error recorded; a parked one is due when `release` wakes
        it, or after `PARK_SECONDS`.

        Returns the seconds the attempt must wait before it starts (0.0: now),
        counted from this call's return, or None if its job was put back or is
        no longer running at that attempt. The worker counts its lateness from
        the return, so a store takes off what it spends after deciding (a
        commit), and keeps that short: the rate state is soft, and need not
        wait for the disk.
        """
        ...

    def release(self, limit: ConcurrencyLimit) -> int:
        """Make parked jobs of ``limit.bucket`` due, as many as it has free
        slots now, oldest first; returns how many."""
        ...

    def finish(self, outcomes: Sequence[Outcome]) -> int:
        """Apply outcomes of attempts in one step; returns how many applied.

        An outcome applies only while its job is ``running`` at that attempt.
        Errors are appended to the job's error list. ``QUEUED`` gives the
        attempt back (the job was handed back unrun).
        """
        ...

    def recover(self) -> int:
        """Return jobs with expired leases to ``queued``; returns how many moved.

        The attempt stays counted. A job with no attempts left ends ``dead``
        with reason ``worker_lost`` and an error entry saying so.
        """
        ...

    def maintain(self) -> None:
        """Housekeeping of the store's own structures, not of jobs (which is
        `recover` and `purge`): called by every worker about once a second,
        on a thread of its own, so it may take long when there is work, but
        must cost next to nothing when there is none, and let one caller at a
        time do the work. Most stores have none."""
        ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def list(
        self,
        *,
        states: Collection[JobState] = (),
        queue: str | None = None,
        task: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[JobRecord]:
        """Jobs matching every given filter, newest first."""
        ...

    def counts(self) -> builtins.list[QueueStats]: ...

    def workers(self, ttl: float) -> builtins.list[WorkerInfo]:
        """Workers seen within the last `ttl` seconds."""
        ...

    def unregister_worker(self, worker_id: str) -> None: ...

    def cancel(self, job_id: str) -> bool:
        """Cancel a scheduled, queued or running job; False in any other state.

        A running job's worker learns it at its next heartbeat, and the
        outcome of that attempt is then ignored like any stale one.
        """
        ...

    def pause(self, queue: str) -> None:
        """Stop claims from `queue` (jobs are still accepted) until `resume`."""
        ...

    def resume(self, queue: str) -> None: ...

    def paused(self) -> builtins.set[str]: ...

    def fired(self, schedules: Sequence[str]) -> dict[str, float]:
        """The last fire time recorded for each of `schedules` that has one."""
        ...

    def mark_fired(self, schedule: str, fire_at: float) -> None:
        """Record that `schedule` fired for the tick at `fire_at` (a later
        record is never replaced by an earlier one)."""
        ...

    def requeue_dead(self, job_ids: Sequence[str]) -> int:
        """Replay dead jobs: back to ``queued`` with their attempts reset.

        Their error history is kept. A job whose unique key is held by an
        active job again is left dead (replaying it would be a duplicate).
        Returns how many were requeued.
        """
        ...

    def purge(
        self,
        states: Collection[JobState],
        *,
        queue: str | None = None,
        older_than: float | None = None,
        limit: int | None = None,
    ) -> int:
        """Delete jobs in `states` (finished at least `older_than` seconds ago,
        when given); at most `limit` of them. Returns how many were deleted."""
        ...

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Block until work may be due in `queues`, or `timeout` seconds pass.

        A hint only: callers claim afterwards and may find nothing.
        """
        ...

    def close(self) -> None: ...
