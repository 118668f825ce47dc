"""The worker: claim due jobs in batches, run them, store their outcomes.

Four kinds of thread share one `Worker`:

- the claim loop (the caller's thread) waits for free slots and claims a
  batch sized to them, or waits on the store when nothing is due;
- executors run attempts: a pool of threads for sync tasks and one event
  loop thread for ``async def`` tasks, both under the same slot count;
- the acker writes finished attempts to the store in batches, one round trip
  per batch;
- upkeep heartbeats the leases held, recovers expired ones and prunes old
  finished jobs.

A job stays *held* from its claim until its outcome is stored, so its lease is
heartbeated for that whole time and a shutdown knows exactly what to hand back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from conveyor.errors import StoreError
from conveyor.job import FINISHED_STATES, JobRecord, JobState, Outcome
from conveyor.stores import redact
from conveyor.stores.base import Lease, WorkerInfo
from conveyor.worker._executor import Executor, Prepared

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.worker")

#: Seconds a claim waits for more free slots once one is free (see
#: `Worker._wait_for_free_slots`); an idle worker, all slots free, never waits.
CLAIM_GATHER = 0.002

#: Set by the supervisor to its pid, so a worker whose supervisor died stops.
SUPERVISOR_ENV = "CONVEYOR_SUPERVISOR_PID"


@dataclass(slots=True)
class WorkerStats:
    """What a worker run did, counted as outcomes were stored."""

    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    handed_back: int = 0

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
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.app = app
        self.store = app.store
        self.queues = tuple(queues) if queues else app.queues()
        self.concurrency = concurrency
        self.burst = burst
        self.shutdown_timeout = shutdown_timeout
        self.poll_interval = poll_interval
        self.batch_size = batch_size
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
                records = store.claim(self.queues, self.info.id, free, self.lease)
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

    def _free_slots(self) -> int:
        """Attempts that may start now: at most `concurrency` run at once, and
        at most twice that many jobs are held (claimed, outcome not yet
        stored), so the next batch is claimed while the last one's outcomes
        are written, yet a slow store cannot pile up leases.

        Nothing is claimed ahead of a free slot: a job that kills its worker
        would take every prefetched job's attempt down with it."""
        return min(self.concurrency - self._running, 2 * self.concurrency - len(self._held))

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
                self._complete(prepared)
            elif prepared.task.is_async:
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

    def _complete(self, outcome: Outcome) -> None:
        if not self._closed:
            self._outcomes.put(outcome)
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    # -- executing -------------------------------------------------------

    def _sync_thread(self) -> None:
        while (job := self._sync_jobs.get()) is not None:
            self._complete(self._executor.run_sync(job))

    async def _run_async(self, job: Prepared) -> None:
        self._complete(await self._executor.run_async(job))

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
            records = [self._held.pop(outcome.job_id, None) for outcome in batch]
            self._cond.notify_all()
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

    # -- upkeep ----------------------------------------------------------

    def _upkeep(self) -> None:
        heartbeat_every = self.lease / 3
        recover_every = max(0.5, min(5.0, self.lease / 4))
        prune_every = 60.0
        last_heartbeat = last_recover = last_prune = time.monotonic()
        while not self._acker_done.wait(min(heartbeat_every, recover_every, 1.0)):
            if self._orphaned():
                log.warning("supervisor process is gone: stopping")
                self.stop()
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
                self.store.heartbeat(self.info, leases, self.lease)
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
            ("async", self._loop_thread),
        ]
        targets += [(f"sync-{n}", self._sync_thread) for n in range(self.concurrency)]
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
