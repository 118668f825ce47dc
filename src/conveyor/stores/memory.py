"""The in-process store, for tests: the SQLite store's semantics without a file.

Jobs live in dicts guarded by one lock, so they do not survive the process and
cannot be shared with another one. Claiming stays cheap however many jobs have
finished: due jobs are found through heaps, never by scanning every job.
"""

from __future__ import annotations

import builtins
import heapq
import itertools
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from urllib.parse import urlsplit

from conveyor.errors import StoreError
from conveyor.job import (
    ACTIVE_STATES,
    ErrorInfo,
    JobRecord,
    JobState,
    NewJob,
    Outcome,
    Reason,
    can_transition,
)
from conveyor.stores._admission import RateState, attempt_key, decide
from conveyor.stores.base import (
    Capabilities,
    ConcurrencyLimit,
    Lease,
    QueueStats,
    RateLimit,
    WorkerInfo,
)

#: Heap order of an entry; its last element is the job's enqueue sequence, so
#: keys are unique and ties fall back to enqueue order.
_Key = tuple[float, ...]
_Entry = tuple[_Key, str]

#: Workers silent this long are forgotten when any worker unregisters, as the
#: SQLite store does: killed workers never unregister themselves.
_FORGET_WORKERS_AFTER = 86400.0

_named: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()


class _Index:
    """A heap with lazy deletion: a job has at most one live entry, and entries
    that are no longer it are skipped when they reach the top."""

    __slots__ = ("_entries", "_live")

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._live: dict[str, _Entry] = {}

    def push(self, job_id: str, key: _Key) -> None:
        entry = (key, job_id)
        self._live[job_id] = entry
        heapq.heappush(self._entries, entry)
        self._compact()

    def discard(self, job_id: str) -> None:
        if self._live.pop(job_id, None) is not None:
            self._compact()

    def first(self) -> _Entry | None:
        entries = self._entries
        while entries and self._live.get(entries[0][1]) is not entries[0]:
            heapq.heappop(entries)
        return entries[0] if entries else None

    def _compact(self) -> None:
        # Stale entries below the top are only popped when they surface; a
        # rebuild bounds the memory they hold (cancelled or purged jobs, leases
        # extended many times).
        if len(self._entries) > 2 * len(self._live) + 64:
            self._entries = builtins.list(self._live.values())
            heapq.heapify(self._entries)


class MemoryStore:
    """Jobs in this process's memory. ``memory://name`` is shared by name within
    the process; ``memory://`` is private to whoever opened it."""

    capabilities = Capabilities(shared=False)

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        #: Bumped whenever work may have become due; see `wait`.
        self._generation = 0
        self._local = threading.local()
        #: Insertion order is enqueue order: ``list`` and ``purge`` walk it.
        self._jobs: dict[str, JobRecord] = {}
        self._seq: dict[str, int] = {}
        self._next_seq = itertools.count()
        #: Unique key -> id of the active job that holds it.
        self._keys: dict[str, str] = {}
        self._scheduled = _Index()
        self._queued: dict[str, _Index] = {}
        self._leases = _Index()
        self._workers: dict[str, WorkerInfo] = {}
        self._paused: set[str] = set()
        self._fires: dict[str, float] = {}
        #: Rate buckets, and the reservations of jobs put back by them (job
        #: id -> reserved time).
        self._rates: dict[str, RateState] = {}
        self._reservations: dict[str, dict[str, float]] = {}
        #: Concurrency buckets: holders (job id -> attempt admitted at) and
        #: parked job ids, oldest first.
        self._slots: dict[str, dict[str, int]] = {}
        self._parked: dict[str, dict[str, None]] = {}

    @classmethod
    def named(cls, url: str) -> MemoryStore:
        """The store for `url`: one per name for the process, so two apps in a
        test can share jobs; a nameless URL gets a store of its own."""
        parts = urlsplit(url)
        name = parts.netloc + parts.path
        if not name:
            return cls(url)
        with _named_lock:
            store = _named.get(name)
            if store is None:
                store = _named[name] = cls(url)
            return store

    def close(self) -> None:
        """Jobs stay: another app may share this store. Waiters are woken so a
        worker blocked in `wait` notices its app closing."""
        with self._lock:
            self._notify()

    # -- the protocol ----------------------------------------------------

    def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> builtins.list[JobRecord]:
        if connection is not None:
            raise StoreError("the memory store has no transactions to enqueue in")
        with self._lock:
            now = time.time()
            added: dict[str, JobRecord] = {}
            by_key: dict[str, JobRecord] = {}
            records = []
            # Everything is checked before anything is stored: all or none.
            for job in jobs:
                if job.key is not None:
                    existing = by_key.get(job.key) or self._active_with_key(job.key)
                    if existing is not None:
                        records.append(existing)
                        continue
                stored = self._jobs.get(job.id) or added.get(job.id)
                if stored is not None:  # a re-sent job: the first one stands
                    records.append(stored)
                    continue
                record = job.inserted(now)
                added[job.id] = record
                if job.key is not None:
                    by_key[job.key] = record
                records.append(record)
            for record in added.values():
                self._seq[record.id] = next(self._next_seq)
                self._save(record)
            if added:
                self._notify()
        return records

    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float
    ) -> builtins.list[JobRecord]:
        if limit <= 0 or not queues:
            return []
        with self._lock:
            now = time.time()
            self._local.seen = self._generation
            self._stage_due(now)
            indexes = [
                self._queued[q]
                for q in dict.fromkeys(queues)
                if q in self._queued and q not in self._paused
            ]
            claimed: builtins.list[JobRecord] = []
            while len(claimed) < limit:
                heads = [head for index in indexes if (head := index.first()) is not None]
                if not heads:
                    break
                record = self._jobs[min(heads)[1]]
                claimed.append(
                    self._save(
                        record._replace(
                            state=JobState.RUNNING,
                            attempt=record.attempt + 1,
                            started_at=now,
                            lease_expires_at=now + lease,
                            worker=worker,
                        )
                    )
                )
        return claimed

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float
    ) -> builtins.list[str]:
        lost = []
        with self._lock:
            now = time.time()
            # Like an upsert that only refreshes last_seen: the first report wins.
            known = self._workers.get(worker.id) or replace(worker, queues=tuple(worker.queues))
            self._workers[worker.id] = replace(known, last_seen=now)
            for held in leases:
                record = self._running_at(held.job_id, held.attempt)
                if record is None:
                    lost.append(held.job_id)
                else:
                    self._save(record._replace(lease_expires_at=now + lease))
        return lost

    def admit(
        self,
        lease: Lease,
        *,
        rate: RateLimit | None = None,
        concurrency: ConcurrencyLimit | None = None,
    ) -> float | None:
        with self._lock:
            now = time.time()
            record = self._running_at(lease.job_id, lease.attempt)
            if record is None:
                return None
            full = False
            if concurrency is not None:
                holders = self._slots.setdefault(concurrency.bucket, {})
                for job_id, attempt in builtins.list(holders.items()):
                    if self._running_at(job_id, attempt) is None:
                        del holders[job_id]
                full = lease.job_id not in holders and len(holders) >= concurrency.limit
            reserved = {} if rate is None else self._reservations.setdefault(rate.bucket, {})
            bucket = RateState() if rate is None else self._rates.get(rate.bucket, RateState())
            decision = decide(
                now,
                concurrency_full=full,
                interval=None if rate is None else rate.interval,
                bucket=bucket,
                reservation=reserved.get(lease.job_id),
                holder=attempt_key(lease),
            )
            if rate is not None:
                self._rates[rate.bucket] = decision.bucket
            if decision.reservation is None:
                reserved.pop(lease.job_id, None)
            else:
                reserved[lease.job_id] = decision.reservation
            if not decision.admitted:
                if decision.parked and concurrency is not None:
                    self._parked.setdefault(concurrency.bucket, {})[lease.job_id] = None
                self._put_back(record, decision.run_at)
                return None
            if concurrency is not None:
                self._slots[concurrency.bucket][lease.job_id] = lease.attempt
            return decision.wait

    def release(self, limit: ConcurrencyLimit) -> int:
        with self._lock:
            now = time.time()
            holders = self._slots.get(limit.bucket, {})
            running = sum(1 for j, a in holders.items() if self._running_at(j, a) is not None)
            parked = self._parked.get(limit.bucket, {})
            woken = 0
            while parked and woken < limit.limit - running:
                job_id = next(iter(parked))
                del parked[job_id]
                record = self._jobs.get(job_id)
                if record is not None and record.state is JobState.SCHEDULED:
                    self._save(record._replace(run_at=now))
                    woken += 1
            if woken:
                self._notify()
        return woken

    def finish(self, outcomes: Sequence[Outcome]) -> int:
        with self._lock:
            now = time.time()
            applied = 0
            for outcome in outcomes:
                record = self._running_at(outcome.job_id, outcome.attempt)
                if record is None:
                    continue
                target = outcome.state
                if target is JobState.SCHEDULED:
                    run_at = now + outcome.delay
                elif target is JobState.QUEUED:
                    run_at = now
                else:
                    run_at = record.run_at
                self._save(
                    record._replace(
                        state=target,
                        attempt=record.attempt - 1 if outcome.refund else record.attempt,
                        run_at=run_at,
                        finished_at=now if target in (JobState.SUCCEEDED, JobState.DEAD) else None,
                        lease_expires_at=None,
                        worker=None,
                        result=outcome.result,
                        # Plain text, as a stored row gives it back (not a `Reason`).
                        reason=None if outcome.reason is None else str(outcome.reason),
                        errors=_with_error(record.errors, outcome.error),
                    )
                )
                applied += 1
            if applied:
                self._notify()
        return applied

    def maintain(self) -> None:
        """Nothing to tidy: dicts and heaps shrink as jobs leave."""

    def recover(self) -> int:
        with self._lock:
            now = time.time()
            moved = 0
            while (head := self._leases.first()) is not None and head[0][0] < now:
                record = self._jobs[head[1]]
                worker = "?" if record.worker is None else record.worker
                errors = _with_error(
                    record.errors,
                    ErrorInfo(
                        attempt=record.attempt,
                        type="WorkerLost",
                        message=f"lease expired: worker {worker} stopped heartbeating",
                        at=now,
                    ),
                )
                lost = record._replace(lease_expires_at=None, worker=None, errors=errors)
                if record.attempt >= record.max_attempts:
                    self._save(
                        lost._replace(
                            state=JobState.DEAD,
                            reason=Reason.WORKER_LOST.value,
                            finished_at=now,
                        )
                    )
                else:
                    self._save(lost._replace(state=JobState.QUEUED, run_at=now))
                moved += 1
            if moved:
                self._notify()
        return moved

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(
        self,
        *,
        states: Collection[JobState] = (),
        queue: str | None = None,
        task: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[JobRecord]:
        wanted = frozenset(states)
        start = max(offset, 0)
        # A negative limit means no limit, as in SQL.
        stop = None if limit < 0 else start + limit
        with self._lock:
            matches = (
                record
                for record in reversed(self._jobs.values())
                if (not wanted or record.state in wanted)
                and (queue is None or record.queue == queue)
                and (task is None or record.task == task)
            )
            return builtins.list(itertools.islice(matches, start, stop))

    def counts(self) -> builtins.list[QueueStats]:
        with self._lock:
            now = time.time()
            since = now - 60
            counts: dict[str, dict[JobState, int]] = {}
            oldest: dict[str, float] = {}
            finished: dict[str, int] = {}
            for record in self._jobs.values():
                name, state = record.queue, record.state
                by_state = counts.setdefault(name, {})
                by_state[state] = by_state.get(state, 0) + 1
                if state is JobState.QUEUED:
                    oldest[name] = min(oldest.get(name, record.run_at), record.run_at)
                elif (
                    state in (JobState.SUCCEEDED, JobState.DEAD)
                    and record.finished_at is not None
                    and record.finished_at >= since
                ):
                    finished[name] = finished.get(name, 0) + 1
        return [
            QueueStats(
                queue=name,
                counts=dict(sorted(counts[name].items())),
                oldest_wait=max(0.0, now - oldest[name]) if name in oldest else 0.0,
                finished_last_minute=finished.get(name, 0),
            )
            for name in sorted(counts)
        ]

    def workers(self, ttl: float) -> builtins.list[WorkerInfo]:
        with self._lock:
            since = time.time() - ttl
            live = [info for info in self._workers.values() if info.last_seen >= since]
        return sorted(live, key=lambda info: info.started_at)

    def unregister_worker(self, worker_id: str) -> None:
        with self._lock:
            forget_before = time.time() - _FORGET_WORKERS_AFTER
            self._workers = {
                wid: info
                for wid, info in self._workers.items()
                if wid != worker_id and info.last_seen >= forget_before
            }

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None or not can_transition(record.state, JobState.CANCELLED):
                return False
            self._save(
                record._replace(
                    state=JobState.CANCELLED,
                    reason=Reason.CANCELLED.value,
                    finished_at=time.time(),
                    lease_expires_at=None,
                    worker=None,
                )
            )
            return True

    def pause(self, queue: str) -> None:
        with self._lock:
            self._paused.add(queue)

    def resume(self, queue: str) -> None:
        with self._lock:
            if queue in self._paused:
                self._paused.discard(queue)
                self._notify()

    def paused(self) -> builtins.set[str]:
        with self._lock:
            return set(self._paused)

    def fired(self, schedules: Sequence[str]) -> dict[str, float]:
        with self._lock:
            return {name: self._fires[name] for name in schedules if name in self._fires}

    def mark_fired(self, schedule: str, fire_at: float) -> None:
        with self._lock:
            self._fires[schedule] = max(fire_at, self._fires.get(schedule, fire_at))

    def requeue_dead(self, job_ids: Sequence[str]) -> int:
        with self._lock:
            now = time.time()
            chosen: dict[str, JobRecord] = {}
            keys: set[str] = set()
            # A replayed job takes its key back; while an active job holds
            # that key the replay is skipped, as it would be a duplicate.
            for job_id in job_ids:
                record = self._jobs.get(job_id)
                if record is None or record.state is not JobState.DEAD or job_id in chosen:
                    continue
                if record.key is not None:
                    if record.key in keys or record.key in self._keys:
                        continue
                    keys.add(record.key)
                chosen[job_id] = record
            for record in chosen.values():
                self._save(
                    record._replace(
                        state=JobState.QUEUED,
                        attempt=0,
                        run_at=now,
                        finished_at=None,
                        reason=None,
                        result=None,
                    )
                )
            if chosen:
                self._notify()
        return len(chosen)

    def purge(
        self,
        states: Collection[JobState],
        *,
        queue: str | None = None,
        older_than: float | None = None,
        limit: int | None = None,
    ) -> int:
        wanted = frozenset(states)
        with self._lock:
            before = None if older_than is None else time.time() - older_than
            matches = (
                record
                for record in self._jobs.values()
                if record.state in wanted
                and (queue is None or record.queue == queue)
                and (
                    before is None
                    or (record.finished_at is not None and record.finished_at < before)
                )
            )
            # Oldest first; a negative limit means no limit, as in SQL.
            doomed = builtins.list(
                itertools.islice(matches, None if limit is None or limit < 0 else limit)
            )
            for record in doomed:
                self._drop(record)
        return len(doomed)

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Sleep on the store's condition, at most until the next scheduled job
        is due. If work arrived since this thread's last claim it returns at
        once: a job enqueued between an empty claim and this call is not slept
        through."""
        with self._changed:
            seen = getattr(self._local, "seen", self._generation)
            if seen == self._generation:
                head = self._scheduled.first()
                if head is not None:
                    timeout = min(timeout, head[0][0] - time.time())
                if timeout > 0:
                    self._changed.wait(timeout)
            self._local.seen = self._generation

    # -- internals (the lock is held) -------------------------------------

    def _save(self, record: JobRecord) -> JobRecord:
        """The one write path: it refuses any state change `TRANSITIONS` lacks
        and keeps the heaps and the key index in step with the record."""
        old = self._jobs.get(record.id)
        if (
            old is not None
            and old.state is not record.state
            and not can_transition(old.state, record.state)
        ):
            raise StoreError(f"job {record.id} cannot go from {old.state} to {record.state}")
        self._jobs[record.id] = record
        before = None if old is None else self._place(old)
        after = self._place(record)
        if before != after:
            if before is not None:
                before[0].discard(record.id)
            if after is not None:
                after[0].push(record.id, after[1])
        if record.key is not None:
            if record.state in ACTIVE_STATES:
                self._keys[record.key] = record.id
            elif self._keys.get(record.key) == record.id:
                del self._keys[record.key]
        return record

    def _drop(self, record: JobRecord) -> None:
        place = self._place(record)
        if place is not None:
            place[0].discard(record.id)
        if record.key is not None and self._keys.get(record.key) == record.id:
            del self._keys[record.key]
        del self._jobs[record.id], self._seq[record.id]

    def _place(self, record: JobRecord) -> tuple[_Index, _Key] | None:
        """The heap a job belongs in for its state, and its key there."""
        seq = self._seq[record.id]
        if record.state is JobState.SCHEDULED:
            return self._scheduled, (record.run_at, seq)
        if record.state is JobState.QUEUED:
            index = self._queued.get(record.queue)
            if index is None:
                index = self._queued[record.queue] = _Index()
            return index, (-record.priority, record.run_at, seq)
        if record.state is JobState.RUNNING and record.lease_expires_at is not None:
            return self._leases, (record.lease_expires_at, seq)
        return None

    def _stage_due(self, now: float) -> None:
        while (head := self._scheduled.first()) is not None and head[0][0] <= now:
            self._save(self._jobs[head[1]]._replace(state=JobState.QUEUED))

    def _put_back(self, record: JobRecord, run_at: float) -> None:
        """A limit's put-back: not an attempt, so it is given back."""
        self._save(
            record._replace(
                state=JobState.SCHEDULED,
                attempt=record.attempt - 1,
                run_at=run_at,
                lease_expires_at=None,
                worker=None,
            )
        )

    def _active_with_key(self, key: str) -> JobRecord | None:
        job_id = self._keys.get(key)
        return None if job_id is None else self._jobs[job_id]

    def _running_at(self, job_id: str, attempt: int) -> JobRecord | None:
        """The job if it is running at `attempt`: the fence for outcomes and leases."""
        record = self._jobs.get(job_id)
        if record is None or record.state is not JobState.RUNNING or record.attempt != attempt:
            return None
        return record

    def _notify(self) -> None:
        self._generation += 1
        self._changed.notify_all()


def _with_error(errors: tuple[ErrorInfo, ...], error: ErrorInfo | None) -> tuple[ErrorInfo, ...]:
    return errors if error is None else (*errors, error)
