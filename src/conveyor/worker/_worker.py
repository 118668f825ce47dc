"""The worker: claim due jobs in batches, run them, store their outcomes.

Four kinds of thread share one `Worker`:

- the claim loop (the caller's thread) waits for free slots and claims a
  batch sized to them, or waits on the store when nothing is due;
- executors run attempts: a pool of threads for sync tasks and one event
  loop thread for ``async def`` tasks, both under the same slot count;
- the acker writes finished attempts to the store in batches, one round trip
  per batch;
- upkeep heartbeats the leases held (stopping the attempts of jobs cancelled
  meanwhile), recovers expired ones and prunes old finished jobs;
- with periodic tasks, the scheduler fires their due ticks.

A job stays *held* from its claim until its outcome is stored, so its lease is
heartbeated for that whole time and a shutdown knows exactly what to hand back.
A task with limits asks the store's leave (`Store.admit`) in its executor
before it starts; a job over its limit is put back by the store, and dropped
here without an outcome.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import random
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Literal

from conveyor.context import JobContext
from conveyor.errors import StoreError
from conveyor.job import FINISHED_STATES, JobRecord, JobState, Outcome
from conveyor.periodic import Scheduler
from conveyor.stores import redact
from conveyor.stores.base import ConcurrencyLimit, Lease, WorkerInfo
from conveyor.worker._children import ChildPool, resident_memory
from conveyor.worker._executor import Executor, Prepared

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.worker")

#: Seconds a claim waits for more free slots once one is free (see
#: `Worker._wait_for_free_slots`); an idle worker, all slots free, never waits.
CLAIM_GATHER = 0.002

#: A worker holds at most this many times its concurrency in jobs: running
#: attempts, and finished ones whose outcomes wait for the acker. Room for
#: three claims' outcomes behind the running ones lets the next claim go out
#: while one outcome batch commits and another waits. At twice, claims waited
#: for commits: a PostgreSQL drain ran 7 to 17 % slower (docs/benchmarks.md).
HELD_PER_SLOT = 4

#: Seconds a rate-limited attempt may start after its slot: past that (a
#: late wake-up) it asks the store again (see `Worker._admit`).
ADMIT_TOLERANCE = 0.02
#: Admissions asked for one attempt before it is handed back to the queue.
ADMIT_TRIES = 5

#: Set by the supervisor to its pid, so a worker whose supervisor died stops.
SUPERVISOR_ENV = "CONVEYOR_SUPERVISOR_PID"

#: Exit status of a worker process that stopped to be replaced (`--max-jobs`,
#: `--max-memory`); its supervisor starts a new one at once.
RECYCLE_STATUS = 75

#: Seconds between calls of `Store.maintain` (the store's own housekeeping).
MAINTAIN_EVERY = 1.0

#: Seconds between heartbeats at most, whatever the lease: a heartbeat is also
#: how a worker learns that a job it runs was cancelled.
HEARTBEAT_EVERY = 1.0

Pool = Literal["threads", "processes"]


@dataclass(slots=True)
class _Attempt:
    """What stopping a held job's attempt needs, and what its end must release."""

    context: JobContext
    async_task: asyncio.Task[None] | None = None
    concurrency: ConcurrencyLimit | None = None


@dataclass(slots=True)
class WorkerStats:
    """What a worker run did, counted as outcomes were stored."""

    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    handed_back: int = 0
    #: Attempts stopped because their job was cancelled (or its lease lost).
    stopped: int = 0
    #: Jobs put back by a rate or concurrency limit before they started.
    deferred: int = 0
    #: Why the worker stopped to be replaced, if it did.
    recycled: str = ""

    @property
    def processed(self) -> int:
        return self.succeeded + self.retried + self.dead

    def count(self, outcome: Outcome) -> None:
        if outcome.state is JobState.SUCCEEDED:
            self.succeeded += 1
        elif outcome.state is JobState.SCHEDULED:
            self.retried += 1
        elif outcome.state is JobState.DEAD:
            self.dead += 1
        else:
            self.handed_back += 1


class Worker:
    """Runs jobs from `queues` with up to `concurrency` attempts at once."""

    def __init__(
        self,
        app: Conveyor,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int = 10,
        burst: bool = False,
        shutdown_timeout: float = 25.0,
        poll_interval: float = 1.0,
        batch_size: int = 500,
        weights: Mapping[str, int] | None = None,
        pool: Pool = "threads",
        max_jobs: int | None = None,
        max_memory: int | None = None,
    ) -> None:
        """`weights` pick which queue a claim tries first, at random in those
        proportions (``{"mail": 3, "reports": 1}``); `pool` ``"processes"``
        runs every sync task in child processes; `max_jobs` and `max_memory`
        (bytes of resident memory) stop the worker so a supervisor replaces it,
        and a child process past `max_memory` is replaced after its attempt."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if weights and any(w < 1 for w in weights.values()):
            raise ValueError("queue weights must be at least 1")
        self.app = app
        self.store = app.store
        self.weights = dict(weights or {})
        queues = list(queues or []) + [q for q in self.weights if q not in (queues or [])]
        self.queues = tuple(queues) if queues else app.queues()
        self.concurrency = concurrency
        self.burst = burst
        self.shutdown_timeout = shutdown_timeout
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.pool = pool
        self.max_jobs = max_jobs
        self.max_memory = max_memory
        self.lease = app.settings.lease
        self.info = WorkerInfo(
            id=f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}",
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            concurrency=concurrency,
            started_at=time.time(),
        )
        self.stats = WorkerStats()
        self._executor = Executor(app)
        self._held: dict[str, JobRecord] = {}
        self._attempts: dict[str, _Attempt] = {}
        self._children = ChildPool(max_memory)
        self._scheduler = (
            Scheduler(self.store, list(app.schedules.values()))
            if app.schedules and not burst
            else None
        )
        self._running = 0
        self._async_tasks: set[asyncio.Task[None]] = set()
        self._cond = threading.Condition()
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._sync_jobs: queue.SimpleQueue[Prepared | None] = queue.SimpleQueue()
        self._loop = asyncio.new_event_loop()
        self._stopping = threading.Event()  # stop claiming, finish in-flight work
        self._abort = threading.Event()  # hand back in-flight work now
        self._acker_done = threading.Event()
        self._closed = False
        self._upkeep_failing = False
        self._threads: list[threading.Thread] = []

    # -- control ---------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to stop: the first call is graceful, the second hands back at once."""
        if self._stopping.is_set():
            self._abort.set()
        self._stopping.set()

    def run(self) -> WorkerStats:
        """Run until stopped (or, in burst mode, until nothing is due)."""
        restore = self._install_signal_handlers()
        self._start_threads()
        try:
            self._upkeep_once(heartbeat=True, recover=True, prune=False)
            log.info(
                "worker %s started: queues=%s concurrency=%d store=%s",
                self.info.id, ",".join(self.queues), self.concurrency, redact(self.app.url),
            )  # fmt: skip
            self._claim_loop()
        finally:
            self._shutdown()
            restore()
        return self.stats

    # -- claiming --------------------------------------------------------

    def _claim_loop(self) -> None:
        store = self.store
        trouble = _Trouble()
        while not self._stopping.is_set():
            free = self._wait_for_free_slots()
            if free == 0:
                continue
            # Burst mode ends on an empty claim only if no outcome was being
            # stored meanwhile: a retry stored while the claim ran may be due,
            # yet unseen by a store whose claim reads a snapshot (PostgreSQL).
            settled = not self._held
            try:
                records = self._claim(free)
            except StoreError as exc:
                trouble.wait(exc, self._stopping)
                continue
            trouble.clear()
            if records:
                self._start(records)
                continue
            if self.burst:
                if settled:
                    return
                with self._cond:
                    if self._held:
                        self._cond.wait(0.05)
                continue
            try:
                store.wait(self.queues, self.poll_interval)
            except StoreError as exc:
                trouble.wait(exc, self._stopping)

    def _claim(self, free: int) -> list[JobRecord]:
        if not self.weights:
            return self.store.claim(self.queues, self.info.id, free, self.lease)
        records: list[JobRecord] = []
        for name in self._weighted_order():
            records += self.store.claim([name], self.info.id, free - len(records), self.lease)
            if len(records) >= free:
                break
        return records

    def _weighted_order(self) -> list[str]:
        """Queues in a random order where each comes first in proportion to
        its weight (unweighted ones count 1)."""
        keyed = [(random.random() ** (1 / self.weights.get(q, 1)), q) for q in self.queues]
        return [q for _, q in sorted(keyed, reverse=True)]

    def _free_slots(self) -> int:
        """Attempts that may start now: at most `concurrency` run at once, and
        at most `HELD_PER_SLOT` times that many jobs are held (claimed,
        outcome not yet stored), so the next batch is claimed while earlier
        outcomes are written, yet a slow store cannot pile up leases.

        Nothing is claimed ahead of a free slot: a job that kills its worker
        would take every prefetched job's attempt down with it. With
        `max_jobs`, nothing is claimed beyond what is left of it."""
        free = min(
            self.concurrency - self._running,
            HELD_PER_SLOT * self.concurrency - len(self._held),
        )
        if self.max_jobs is not None:
            free = min(free, self.max_jobs - self.stats.processed - len(self._held))
        return free

    def _wait_for_free_slots(self) -> int:
        """Wait for a free slot, then up to `CLAIM_GATHER` seconds more for half
        the slots: under load, slots free one by one, and claiming each alone
        would cost a store round trip per job."""
        wanted = max(1, self.concurrency // 2)
        with self._cond:
            while self._free_slots() <= 0 and not self._stopping.is_set():
                self._cond.wait(0.2)
            deadline = time.monotonic() + CLAIM_GATHER
            while self._free_slots() < wanted and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return 0 if self._stopping.is_set() else self._free_slots()

    def _start(self, records: list[JobRecord]) -> None:
        with self._cond:
            for record in records:
                self._held[record.id] = record
            self._running += len(records)
        async_jobs = []
        for record in records:
            prepared = self._executor.prepare(record)
            if isinstance(prepared, Outcome):
                self._complete(record, prepared)
                continue
            with self._cond:
                self._attempts[record.id] = _Attempt(prepared.context())
            if prepared.task.is_async:
                async_jobs.append(prepared)
            else:
                self._sync_jobs.put(prepared)
        if async_jobs:  # one wake-up of the event loop per batch, not per job
            self._loop.call_soon_threadsafe(self._spawn_async, async_jobs)

    def _spawn_async(self, jobs: list[Prepared]) -> None:
        for job in jobs:
            task = self._loop.create_task(self._run_async(job))
            self._async_tasks.add(task)  # the loop keeps only weak references
            task.add_done_callback(self._async_tasks.discard)
            attempt = self._attempts.get(job.record.id)
            if attempt is not None:
                attempt.async_task = task
                if attempt.context.cancelled:  # cancelled before it was spawned
                    task.cancel()

    def _complete(self, record: JobRecord, outcome: Outcome | None) -> None:
        """An attempt ended: its outcome goes to the acker. None means there
        is nothing to store (the store put the job back, or it was cancelled)
        and the job is let go now."""
        if outcome is not None and not self._closed:
            self._outcomes.put(outcome)
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
            return
        with self._cond:
            self._running -= 1
            _, attempt = self._let_go(record.id, record.attempt)
            self._cond.notify_all()
        if attempt is not None and attempt.concurrency is not None:
            self._release(attempt.concurrency)

    def _let_go(self, job_id: str, attempt: int) -> tuple[JobRecord | None, _Attempt | None]:
        """Stop holding `attempt` of a job (with `_cond` held); its record and
        attempt state, or None for what is no longer that attempt's.

        A retry due at once can be claimed again, by this worker, before the
        acker lets go of the attempt before it: the new attempt's entries,
        under the same job id, must stay (dropping them once lost the attempt
        its executor and left the job running until its lease expired)."""
        record = self._held.get(job_id)
        if record is not None and record.attempt == attempt:
            del self._held[job_id]
        else:
            record = None
        state = self._attempts.get(job_id)
        if state is not None and state.context.attempt == attempt:
            del self._attempts[job_id]
        else:
            state = None
        return record, state

    # -- executing -------------------------------------------------------

    def _sync_thread(self) -> None:
        while (job := self._sync_jobs.get()) is not None:
            admitted, instead = self._admit(job)
            if not admitted:
                self._complete(job.record, instead)
                continue
            context = self._attempts[job.record.id].context
            if self.pool == "processes" or job.task.default_options.process:
                outcome = self._executor.run_in_child(job, context, self._children)
            else:
                outcome = self._executor.run_sync(job, context)
            if outcome is None:
                self.stats.stopped += 1
            self._complete(job.record, outcome)

    async def _run_async(self, job: Prepared) -> None:
        try:
            if job.task.limits is not None:
                admitted, instead = await asyncio.to_thread(self._admit, job)
                if not admitted:
                    self._complete(job.record, instead)
                    return
            outcome: Outcome | None = await self._executor.run_async(
                job, self._attempts[job.record.id].context
            )
        except asyncio.CancelledError:
            if self._closed:
                raise  # shutdown: the job was handed back already
            self.stats.stopped += 1
            outcome = None
        self._complete(job.record, outcome)

    def _admit(self, job: Prepared) -> tuple[bool, Outcome | None]:
        """Whether the job may start now (after waiting for its rate slot),
        and if not, the outcome to store instead: None when the store put the
        job back (it is over a limit), an `Outcome` when the check failed.

        A rate slot is a time on the store's clock; the store's reply says how
        long until it. If the wait overslept (a busy machine) by more than
        `ADMIT_TOLERANCE`, the store is asked again rather than the start
        made late, so a late start never squeezes the next one closer than
        the rate allows: an attempt still the bucket's last admission starts
        at once, the bucket counting from then; another gets a new slot.
        Lateness counts from the reply, not the request: time spent before the
        store decided (a lock, a queue) delays the decision, not the start."""
        limits = job.task.limits
        if limits is None:
            return True, None
        record = job.record
        try:
            rate, concurrency = limits.for_job(job.args, job.kwargs)
        except Exception as exc:  # the task's limit_key raised
            return False, self._executor.failure(job, exc)
        lease = Lease(record.id, record.attempt)
        for _ in range(ADMIT_TRIES):
            try:
                wait = self.store.admit(lease, rate=rate, concurrency=concurrency)
                replied = time.monotonic()
            except StoreError as exc:
                log.warning("could not check the limits of job %s, handing it back: %s",
                            record.id, exc)  # fmt: skip
                return False, Outcome(record.id, record.attempt, JobState.QUEUED)
            if wait is None:
                self.stats.deferred += 1
                return False, None
            if concurrency is not None:
                self._attempts[record.id].concurrency = concurrency
            if wait > 0:
                time.sleep(wait)
            late = time.monotonic() - replied - wait
            if rate is None or late <= ADMIT_TOLERANCE:
                return True, None
            log.debug("job %s may be %.0f ms late for its rate slot: asking again",
                      record.id, late * 1000)  # fmt: skip
        log.warning("job %s kept missing its rate slot, handing it back", record.id)
        return False, Outcome(record.id, record.attempt, JobState.QUEUED)

    def _release(self, limit: ConcurrencyLimit) -> None:
        """Wake a job parked behind `limit`; if this fails, parked jobs still
        come due after `PARK_SECONDS`."""
        try:
            self.store.release(limit)
        except StoreError as exc:
            log.warning("could not release a slot of %s: %s", limit.bucket, exc)

    def _stop_attempts(self, job_ids: Sequence[str]) -> None:
        """Jobs no longer running at our attempt (cancelled, or recovered):
        stop what can be stopped; a sync thread sees `current_job().cancelled`."""
        with self._cond:
            attempts = [(job_id, self._attempts.get(job_id)) for job_id in job_ids]
        for job_id, attempt in attempts:
            if attempt is None or attempt.context.cancelled:
                continue
            log.info("job %s was cancelled or its lease lost: stopping its attempt", job_id)
            attempt.context.mark_cancelled()
            if attempt.async_task is not None:
                self._loop.call_soon_threadsafe(attempt.async_task.cancel)

    def _loop_thread(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    # -- storing outcomes ------------------------------------------------

    def _acker(self) -> None:
        """Store outcomes in batches until shutdown has drained them all."""
        trouble = _Trouble()
        batch: list[Outcome] = []
        while True:
            if not batch:
                try:
                    batch.append(self._outcomes.get(timeout=0.05))
                except queue.Empty:
                    if self._acker_done.is_set():
                        return
                    continue
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._outcomes.get_nowait())
                except queue.Empty:
                    break
            try:
                self.store.finish(batch)
            except StoreError as exc:
                if self._abort.is_set():
                    log.error("dropping %d outcomes at shutdown: %s", len(batch), exc)
                    return  # their leases expire and the jobs are recovered
                trouble.wait(exc, self._abort)
                continue
            trouble.clear()
            self._stored(batch)
            batch = []

    def _stored(self, batch: list[Outcome]) -> None:
        with self._cond:
            let_go = [self._let_go(outcome.job_id, outcome.attempt) for outcome in batch]
            self._cond.notify_all()
        records = [record for record, _ in let_go]
        attempts = [attempt for _, attempt in let_go]
        for limit in {a.concurrency for a in attempts if a is not None and a.concurrency}:
            self._release(limit)
        for outcome, record in zip(batch, records, strict=True):
            self.stats.count(outcome)
            if outcome.state is JobState.SUCCEEDED or record is None:
                continue
            error = outcome.error
            detail = f"{error.type}: {error.message}" if error else ""
            if outcome.state is JobState.DEAD:
                log.warning(
                    "job %s (%s) dead after attempt %d [%s] %s",
                    record.id, record.task, record.attempt, outcome.reason, detail,
                )  # fmt: skip
            elif outcome.state is JobState.SCHEDULED:
                log.info(
                    "job %s (%s) attempt %d failed, retry in %.1fs: %s",
                    record.id, record.task, record.attempt, outcome.delay, detail,
                )  # fmt: skip
        if self.max_jobs is not None and self.stats.processed >= self.max_jobs:
            self._recycle(f"ran {self.stats.processed} jobs (--max-jobs {self.max_jobs})")

    def _recycle(self, why: str) -> None:
        if not self.stats.recycled:
            log.info("stopping to be replaced: %s", why)
            self.stats.recycled = why
            self._stopping.set()

    # -- upkeep ----------------------------------------------------------

    def _upkeep(self) -> None:
        heartbeat_every = min(self.lease / 3, HEARTBEAT_EVERY)
        recover_every = max(0.5, min(5.0, self.lease / 4))
        prune_every = 60.0
        last_heartbeat = last_recover = last_prune = time.monotonic()
        while not self._acker_done.wait(min(heartbeat_every, recover_every, 1.0)):
            if self._orphaned():
                log.warning("supervisor process is gone: stopping")
                self.stop()
            if self.max_memory is not None and (used := worker_memory()) > self.max_memory:
                self._recycle(f"uses {used >> 20} MiB (--max-memory {self.max_memory >> 20} MiB)")
            now = time.monotonic()
            due = {
                "heartbeat": now - last_heartbeat >= heartbeat_every,
                "recover": now - last_recover >= recover_every,
                "prune": now - last_prune >= prune_every,
            }
            if not any(due.values()):
                continue
            if self._upkeep_once(**due):
                last_heartbeat = now if due["heartbeat"] else last_heartbeat
                last_recover = now if due["recover"] else last_recover
                last_prune = now if due["prune"] else last_prune

    def _upkeep_once(self, *, heartbeat: bool, recover: bool, prune: bool) -> bool:
        settings = self.app.settings
        try:
            if heartbeat:
                with self._cond:
                    leases = [Lease(r.id, r.attempt) for r in self._held.values()]
                if lost := self.store.heartbeat(self.info, leases, self.lease):
                    self._stop_attempts(lost)
            if recover and (moved := self.store.recover()):
                log.warning("recovered %d job(s) whose worker stopped heartbeating", moved)
            if prune:
                self.store.purge(FINISHED_STATES - {JobState.DEAD}, older_than=settings.result_ttl)
                self.store.purge({JobState.DEAD}, older_than=settings.dead_ttl)
        except StoreError as exc:
            if not self._upkeep_failing:
                log.warning("store upkeep failed, will retry: %s", exc)
            self._upkeep_failing = True
            return False
        self._upkeep_failing = False
        return True

    def _maintain(self) -> None:
        """`Store.maintain` every `MAINTAIN_EVERY` seconds, on a thread of its
        own: a vacuum of a large table may take minutes, and heartbeats must
        not wait for it. Failures are retried quietly: the claim loop and the
        upkeep already report a store that is down."""
        while not self._stopping.wait(MAINTAIN_EVERY):
            try:
                self.store.maintain()
            except StoreError as exc:
                log.debug("store maintenance failed, will retry: %s", exc)

    def _periodic(self) -> None:
        """Fire due ticks until the worker stops; a failing store is retried."""
        scheduler = self._scheduler
        assert scheduler is not None
        trouble = _Trouble()
        started = False
        while not self._stopping.is_set():
            try:
                if not started:
                    scheduler.start(time.time())
                    started = True
                for schedule, tick in scheduler.fire_due(time.time()):
                    log.debug("fired %s for %s", schedule.name, tick)
            except StoreError as exc:
                trouble.wait(exc, self._stopping)
                continue
            trouble.clear()
            self._stopping.wait(min(1.0, max(0.0, scheduler.next_tick() - time.time())))

    @staticmethod
    def _orphaned() -> bool:
        """True when started by a supervisor (`SUPERVISOR_ENV`) that has died."""
        parent = os.environ.get(SUPERVISOR_ENV)
        return parent is not None and os.getppid() != int(parent)

    # -- lifecycle -------------------------------------------------------

    def _start_threads(self) -> None:
        targets: list[tuple[str, Callable[[], None]]] = [
            ("acker", self._acker),
            ("upkeep", self._upkeep),
            ("maintain", self._maintain),
            ("async", self._loop_thread),
        ]
        targets += [(f"sync-{n}", self._sync_thread) for n in range(self.concurrency)]
        if self._scheduler is not None:
            targets.append(("periodic", self._periodic))
        for name, target in targets:
            thread = threading.Thread(target=target, name=f"conveyor-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _shutdown(self) -> None:
        self._stopping.set()
        deadline = time.monotonic() + self.shutdown_timeout
        with self._cond:
            if self._running:
                log.info("stopping: waiting up to %.0fs for %d job(s)", self.shutdown_timeout,
                         self._running)  # fmt: skip
            while self._running and not self._abort.is_set() and time.monotonic() < deadline:
                self._cond.wait(0.1)
        self._acker_done.set()
        acker = next(t for t in self._threads if t.name == "conveyor-acker")
        acker.join(max(5.0, deadline - time.monotonic()))
        if acker.is_alive():  # the store is failing: stop retrying, leases will expire
            self._abort.set()
            acker.join()
        # From here on a late outcome is dropped: its job is handed back below,
        # and storing both could let a stale attempt overwrite a new one.
        self._closed = True
        with self._cond:
            left = [Outcome(r.id, r.attempt, JobState.QUEUED) for r in self._held.values()]
            self._held.clear()
        if left:
            try:
                handed = self.store.finish(left)
                self.stats.handed_back += handed
                log.warning("handed back %d unfinished job(s) to the queue", handed)
            except StoreError as exc:
                log.error("could not hand back %d job(s), their leases will expire: %s",
                          len(left), exc)  # fmt: skip
        for _ in range(self.concurrency):
            self._sync_jobs.put(None)
        self._children.close()
        self._loop.call_soon_threadsafe(self._cancel_async_tasks)
        loop_thread = next(t for t in self._threads if t.name == "conveyor-async")
        loop_thread.join(5.0)
        if not loop_thread.is_alive():
            self._loop.close()
        try:
            self.store.unregister_worker(self.info.id)
        except StoreError as exc:
            log.warning("could not unregister worker: %s", exc)
        log.info(
            "worker %s stopped: %d succeeded, %d retried, %d dead, %d handed back",
            self.info.id, self.stats.succeeded, self.stats.retried, self.stats.dead,
            self.stats.handed_back,
        )  # fmt: skip

    def _cancel_async_tasks(self) -> None:
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.call_soon(self._loop.stop)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self._stopping.is_set():
                log.warning("second signal: handing back in-flight jobs now")
            else:
                log.info("signal %s: no more claims, finishing in-flight jobs",
                         signal.Signals(signum).name)  # fmt: skip
            self.stop()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


def worker_memory() -> int:
    """Bytes of this process's resident memory now (Linux), else its peak."""
    used = resident_memory()
    if used is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return used


class _Trouble:
    """Backoff for a store that fails: one log line when trouble starts, one when it ends."""

    def __init__(self) -> None:
        self.delay = 0.0

    def wait(self, exc: StoreError, interrupt: threading.Event) -> None:
        if self.delay == 0.0:
            log.error("store unavailable, retrying with backoff: %s", exc)
        self.delay = min(max(self.delay * 2, 0.1), 5.0)
        interrupt.wait(self.delay)

    def clear(self) -> None:
        if self.delay:
            log.warning("store available again")
        self.delay = 0.0
