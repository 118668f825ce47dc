"""conveyor on SQLite, Redis and PostgreSQL.

Worker: ``conveyor worker bench.peers.conveyor_bench:app --concurrency 10
--log-level warning``: one process, ten job slots (conveyor's default; the
worker claims only what its free slots can start, see docs/architecture.md),
no per-job log lines at any level. Store URLs: SQLite
``sqlite:///tmp/bench-peers-conveyor.db`` (default settings:
``synchronous=full``, WAL; the file is deleted before each measurement),
Redis ``redis://127.0.0.1:6379/13``, PostgreSQL
``postgresql://postgres@127.0.0.1:5432/bench``: its tables are emptied with
``TRUNCATE`` before each measurement, as PgQueuer's are, so every run starts
from a table without dead rows (a DELETE would leave them behind, and the
bench server does not autovacuum). Results kept (the default ``result_ttl``, 24 h). Enqueue:
``noop.enqueue()``; bulk: ``noop.enqueue_many([()] * chunk)``, one round
trip per call.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.peers.common import PG_DSN, REDIS_URL, Peer, job_done, job_started, variant
from conveyor import Conveyor, JobState

VARIANTS = ["sqlite", "redis", "postgres"]
VARIANT = variant(VARIANTS[0])
SQLITE_FILE = Path(tempfile.gettempdir(), "bench-peers-conveyor.db")
URLS = {"sqlite": f"sqlite://{SQLITE_FILE}", "redis": REDIS_URL, "postgres": PG_DSN}

app = Conveyor(URLS[VARIANT])


@app.task(name="bench.peers.noop")
def noop() -> None:
    job_done()


@app.task(name="bench.peers.probe")
def probe(sample: int) -> None:
    job_started(sample)


def truncate_postgres() -> None:
    """Empty conveyor's tables the way PgQueuer's are emptied (TRUNCATE, no
    dead rows left), after the store has created them."""
    import psycopg

    app.store  # noqa: B018 (opening the store applies the migrations)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute("TRUNCATE conveyor_jobs, conveyor_workers RESTART IDENTITY")


def sqlite_files() -> list[Path]:
    return [Path(f"{SQLITE_FILE}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]


class ConveyorPeer(Peer):
    package = "conveyor"
    store = VARIANT
    name = "conveyor"
    config = __doc__ or ""

    def setup(self) -> None:
        if VARIANT == "sqlite":
            app.close()
            for file in sqlite_files():
                file.unlink(missing_ok=True)
        elif VARIANT == "postgres":
            truncate_postgres()
        else:
            app.store.purge(set(JobState))

    def enqueue(self, n: int) -> None:
        enqueue = noop.enqueue
        for _ in range(n):
            enqueue()

    def enqueue_bulk(self, n: int, chunk: int) -> None:
        for first in range(0, n, chunk):
            noop.enqueue_many([()] * min(chunk, n - first))

    def enqueue_probe(self, sample: int) -> None:
        probe.enqueue(sample)

    def queued(self) -> int:
        return sum(stats.counts.get(JobState.QUEUED, 0) for stats in app.store.counts())

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "conveyor", "worker", "bench.peers.conveyor_bench:app",
            "--concurrency", "10", "--log-level", "warning",
        ]  # fmt: skip

    def close(self) -> None:
        app.close()
        if VARIANT == "sqlite":
            for file in sqlite_files():
                file.unlink(missing_ok=True)


def make(variant: str) -> ConveyorPeer:
    return ConveyorPeer()
