"""How far the worker is from the least a worker can do, on PostgreSQL.

Run from the repository root::

    python bench/pg_floor.py [--url postgresql://...] [--jobs 20000] [--concurrency 10]
                             [--runs 3]

Two drains of the same no-op jobs, in this process, one after the other in
each run (the order alternates between runs):

- **worker**: ``Worker(app, concurrency=C, burst=True).run()``, everything a
  worker does (records, payload decoding and argument checks, task lookup,
  attempt contexts, leases heartbeated, outcomes through the acker);
- **bare loop**: the store's own claim and outcome statements
  (``claim_one.sql``, ``finish_succeeded.sql``) on two connections of its
  own, no pool. A claim goes out once half the slots are free, as the
  worker's does, and takes only what free slots can start (no prefetch); C
  threads each take ``(id, attempt)`` off a queue and call nothing, and an
  acker thread writes the outcomes in batches. No records, no decoding, no
  leases kept.

Both are timed from the start of their first claim to the moment the last
outcome was stored (the worker through ``bench.drain_worker.TimedStore``).
The bare loop is a floor for the worker's overhead, not a design: it skips
everything that makes a job system safe to run. Each run starts from an
emptied table. Figures are jobs/s, the median over ``--runs``, and the
worker's rate as a share of the bare loop's.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import cast

import psycopg
from psycopg.rows import tuple_row

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench.*`` importable
    sys.path.insert(0, str(ROOT))

from bench.apps import register  # noqa: E402
from bench.drain_worker import TimedStore  # noqa: E402
from conveyor import Conveyor, Worker  # noqa: E402
from conveyor.stores import Store  # noqa: E402
from conveyor.stores.postgres import _sql  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench"
CHUNK = 1_000


def fill(url: str, jobs: int) -> Conveyor:
    """An app whose table holds exactly `jobs` queued no-op jobs."""
    app = Conveyor(url)
    noop = register(app)
    app.store  # noqa: B018 (opening the store applies the migrations)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE conveyor_jobs, conveyor_workers RESTART IDENTITY")
    for start in range(0, jobs, CHUNK):
        noop.enqueue_many([()] * min(CHUNK, jobs - start))
    return app


def drain_worker(url: str, jobs: int, concurrency: int) -> float:
    app = fill(url, jobs)
    try:
        worker = Worker(app, concurrency=concurrency, burst=True)
        timed = TimedStore(worker.store)
        worker.store = cast(Store, timed)
        stats = worker.run()
    finally:
        app.close()
    if stats.succeeded != jobs or timed.first_claim is None or timed.last_finish is None:
        raise SystemExit(f"worker: {stats.succeeded} of {jobs} jobs succeeded")
    return jobs / (timed.last_finish - timed.first_claim)


class BareLoop:
    """The floor: conveyor's statements, none of its bookkeeping."""

    def __init__(self, url: str, concurrency: int) -> None:
        self.concurrency = concurrency
        self.claimer = psycopg.connect(url, autocommit=True)
        self.finisher = psycopg.connect(url, autocommit=True)
        for conn in (self.claimer, self.finisher):
            conn.execute(_sql("configure_session"))
        self.cond = threading.Condition()
        self.running = 0
        self.stored = 0
        self.jobs: queue.SimpleQueue[tuple[str, int] | None] = queue.SimpleQueue()
        self.outcomes: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self.done = threading.Event()
        self.first_claim = self.last_finish = 0.0

    def run(self) -> int:
        # Daemons: a claim that fails (the server went away) ends the run
        # with its error instead of leaving the slots blocked for ever.
        threads = [threading.Thread(target=self.slot, daemon=True) for _ in range(self.concurrency)]
        threads.append(threading.Thread(target=self.acker, daemon=True))
        for thread in threads:
            thread.start()
        claimed = 0
        wanted = max(1, self.concurrency // 2)
        self.first_claim = time.perf_counter()
        while True:
            with self.cond:
                while self.concurrency - self.running < wanted:
                    self.cond.wait()
                free = self.concurrency - self.running
            cursor = self.claimer.cursor(row_factory=tuple_row, binary=True)
            params = {"worker": "floor", "limit": free, "lease": 60.0, "queue": "default"}
            rows = cursor.execute(_sql("claim_one"), params, prepare=True).fetchall()
            if not rows:
                break
            with self.cond:
                self.running += len(rows)
            for row in rows:
                self.jobs.put((row[0], row[6]))  # id, attempt
            claimed += len(rows)
        with self.cond:
            while self.stored < claimed:
                self.cond.wait()
        self.last_finish = time.perf_counter()
        self.done.set()
        for _ in range(self.concurrency):
            self.jobs.put(None)
        for thread in threads:
            thread.join()
        self.claimer.close()
        self.finisher.close()
        return claimed

    def slot(self) -> None:
        while (job := self.jobs.get()) is not None:
            self.outcomes.put(job)
            with self.cond:
                self.running -= 1
                self.cond.notify_all()

    def acker(self) -> None:
        while not self.done.is_set():
            try:
                batch = [self.outcomes.get(timeout=0.05)]
            except queue.Empty:
                continue
            while True:
                try:
                    batch.append(self.outcomes.get_nowait())
                except queue.Empty:
                    break
            params = {
                "id": [job_id for job_id, _ in batch],
                "attempt": [attempt for _, attempt in batch],
                "result": [None] * len(batch),
            }
            self.finisher.execute(_sql("finish_succeeded"), params, prepare=True, binary=True)
            with self.cond:
                self.stored += len(batch)
                self.cond.notify_all()


def drain_bare(url: str, jobs: int, concurrency: int) -> float:
    fill(url, jobs).close()
    loop = BareLoop(url, concurrency)
    claimed = loop.run()
    if claimed != jobs:
        raise SystemExit(f"bare loop: claimed {claimed} of {jobs} jobs")
    return jobs / (loop.last_finish - loop.first_claim)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL store URL")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per drain")
    parser.add_argument("--concurrency", type=int, default=10, help="slots of both")
    parser.add_argument("--runs", type=int, default=3, help="runs of both, interleaved")
    args = parser.parse_args(argv)
    measures = {"worker": drain_worker, "bare loop": drain_bare}
    rates: dict[str, list[float]] = {name: [] for name in measures}
    for run in range(args.runs):
        order = list(measures) if run % 2 == 0 else list(reversed(measures))
        for name in order:
            rate = measures[name](args.url, args.jobs, args.concurrency)
            rates[name].append(rate)
            print(f"run {run + 1}/{args.runs} {name}: {rate:,.0f} jobs/s", file=sys.stderr)
    worker, bare = (statistics.median(rates[name]) for name in measures)
    print(f"jobs {args.jobs:,}, concurrency {args.concurrency}, median of {args.runs} runs")
    print("| drain | jobs/s | runs |")
    print("|---|---:|---|")
    for name, value in (("worker", worker), ("bare loop", bare)):
        runs = ", ".join(f"{rate:,.0f}" for rate in rates[name])
        print(f"| {name} | {value:,.0f} | {runs} |")
    print(f"worker ÷ bare loop: {worker / bare:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
