"""SQLite-only behaviour the conformance suite cannot see: upgrading a
database that an older version created, from several processes at once, and
the threads of one store taking turns to write."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import conveyor.stores.sqlite as sqlite_module
from conveyor.job import JobState, NewJob
from conveyor.stores._sql import query
from conveyor.stores.sqlite import SqliteStore

#: The schema version a migrated database is at: one per migration file.
LATEST = len(list((Path(sqlite_module.__file__).parent / "migrations").glob("*.sql")))


def test_an_older_database_is_upgraded_once_by_stores_opening_together(tmp_path: Path) -> None:
    """A step such as ``ADD COLUMN`` cannot run twice: a store that waited
    for another's migration must see the new version and skip it."""
    path = tmp_path / "jobs.db"
    SqliteStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:  # back to the schema before the rate holder (0003)
        conn.execute("ALTER TABLE conveyor_rate_buckets DROP COLUMN holder")
        conn.execute("PRAGMA user_version = 2")

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: SqliteStore(f"sqlite:///{path}"), range(4)))
    for store in stores:
        store.close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (LATEST,)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(conveyor_rate_buckets)")]
    assert columns == ["bucket", "next_free", "last", "holder"]


def test_threads_of_one_store_take_turns_to_write_without_a_busy_wait(tmp_path: Path) -> None:
    """With no busy timeout, SQLite refuses a write while another connection
    holds the lock; the store's threads must queue for it among themselves
    (a worker's claimer, acker and upkeep write at once all the time)."""
    store = SqliteStore(f"sqlite:///{tmp_path / 'jobs.db'}", busy_timeout=0.0)

    def enqueue(thread: int) -> int:
        for n in range(50):
            store.enqueue([NewJob(f"t{thread}-{n}", "noop", "default", "[[], {}]")])
        return thread

    try:
        with ThreadPoolExecutor(8) as pool:
            assert sorted(pool.map(enqueue, range(8))) == list(range(8))
        [stats] = store.counts()
        assert stats.counts[JobState.QUEUED] == 400
    finally:
        store.close()


def test_job_indexes_are_partial_and_retention_reads_the_finished_one(tmp_path: Path) -> None:
    """An index over every row costs a WAL frame in every commit that touches
    a job; pruning must still find old finished jobs without a table scan."""
    path = tmp_path / "jobs.db"
    SqliteStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        indexes = dict(
            conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = "
                "'conveyor_jobs' AND sql IS NOT NULL"
            )
        )
        plan = " ".join(
            row[3]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN " + query(sqlite_module.__name__, "prune"),
                {"state": "succeeded", "now": 0.0, "older_than": 0.0, "queue": None, "limit": 1},
            )
        )
    assert indexes and all(" WHERE " in sql for sql in indexes.values()), indexes
    assert "USING COVERING INDEX conveyor_jobs_finished" in plan, plan
