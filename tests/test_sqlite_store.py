"""SQLite-only behaviour the conformance suite cannot see: upgrading a
database that an older version created, from several processes at once, and
the threads of one store taking turns to write, and which commits are soft."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest

import conveyor.stores.sqlite as sqlite_module
from conveyor.errors import StoreError
from conveyor.job import JobState, NewJob, Outcome
from conveyor.stores._sql import query
from conveyor.stores.sqlite import SqliteStore
from tests.helpers import new_job

#: The schema version a migrated database is at: one per migration file.
LATEST = len(list((Path(sqlite_module.__file__).parent / "migrations").glob("*.sql")))


def test_an_older_database_is_upgraded_once_by_stores_opening_together(tmp_path: Path) -> None:
    """A step such as ``ADD COLUMN`` cannot run twice: a store that waited
    for another's migration must see the new version and skip it."""
    path = tmp_path / "jobs.db"
    SqliteStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:  # back to the schema before the rate holder (0003)
        conn.execute("ALTER TABLE conveyor_rate_buckets DROP COLUMN holder")
        conn.execute("DROP INDEX conveyor_jobs_dead_cancelled")  # 0005
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


@pytest.mark.parametrize(
    "states",
    [{JobState.DEAD}, {JobState.CANCELLED}, {JobState.DEAD, JobState.CANCELLED}],
    ids=["dead", "cancelled", "both"],
)
def test_dead_and_cancelled_jobs_are_listed_and_purged_off_their_own_index(
    tmp_path: Path, states: set[JobState]
) -> None:
    """A few dead jobs among many succeeded ones: walking every job by seq to
    list or purge them grew with the retained jobs (migration 0005)."""
    store = SqliteStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        jobs = store.enqueue([new_job() for _ in range(6)])
        store.cancel(jobs[5].id)
        claimed = store.claim(["default"], "w", 5, 60.0)
        ends = [JobState.SUCCEEDED, JobState.DEAD, JobState.SUCCEEDED, JobState.DEAD]
        store.finish([Outcome(r.id, r.attempt, end) for r, end in zip(claimed, ends, strict=False)])
        store.cancel(claimed[4].id)
        wanted = [r.id for r in reversed(store.list(limit=-1)) if r.state in states][::-1]
        assert wanted, "no job in the states listed"

        statements: list[str] = []
        store._conn().set_trace_callback(statements.append)
        assert [r.id for r in store.list(states=states)] == wanted
        assert store.purge(states) == len(wanted)
        store._conn().set_trace_callback(None)

        filtered = [sql for sql in statements if "json_each" in sql]
        assert len(filtered) >= 2, statements
        for sql in filtered:
            plan = " ".join(
                row["detail"] for row in store._conn().execute("EXPLAIN QUERY PLAN " + sql)
            )
            assert "conveyor_jobs_dead_cancelled" in plan, (sql, plan)
        assert store.list(states=states) == []
    finally:
        store.close()


@pytest.mark.parametrize("level", ["full", "normal"])
def test_claims_and_outcomes_commit_soft_and_enqueues_at_the_stores_level(
    tmp_path: Path, level: str
) -> None:
    """What the app writes keeps the store's level (full by default: an
    enqueue survives power loss); a worker's claims and outcomes commit at
    normal. The level changes only between a soft write and another, so a
    thread writing only soft transactions sets it once."""
    store = SqliteStore(f"sqlite:///{tmp_path / 'jobs.db'}?synchronous={level}")
    statements: list[str] = []
    conn = store._conn()  # this thread's connection, which the calls below use
    conn.set_trace_callback(statements.append)
    marks = [0]
    try:
        job = store.enqueue([new_job()])[0]
        marks.append(len(statements))
        [claimed] = store.claim(["default"], "w", 1, 30.0)
        marks.append(len(statements))
        store.finish([Outcome(job.id, claimed.attempt, JobState.SUCCEEDED, result="null")])
        marks.append(len(statements))
        store.enqueue([new_job()])
        marks.append(len(statements))
        conn.set_trace_callback(None)
        synchronous = conn.execute("PRAGMA synchronous").fetchone()
    finally:
        store.close()
    calls = [statements[a:b] for a, b in pairwise(marks)]
    pragmas = [[s for s in call if s.startswith("PRAGMA synchronous")] for call in calls]
    if level == "full":
        assert pragmas == [[], ["PRAGMA synchronous = normal"], [], ["PRAGMA synchronous = full"]]
        # Each level is set before its transaction begins (a lone job's
        # enqueue is one INSERT in a transaction of its own).
        for call, [pragma] in ((calls[1], pragmas[1]), (calls[3], pragmas[3])):
            begins = next(n for n, s in enumerate(call) if "BEGIN" in s or "INSERT" in s)
            assert call.index(pragma) < begins, call
    else:
        assert pragmas == [[], [], [], []]
    assert synchronous == {"synchronous": {"full": 2, "normal": 1}[level]}


@pytest.mark.parametrize("batch", [1, 2], ids=["one job", "a batch"])
def test_an_enqueue_past_the_busy_timeout_is_a_store_error_and_stores_nothing(
    tmp_path: Path, batch: int
) -> None:
    """A lone job goes in by one statement, a batch in a transaction: either
    way a database another process keeps locked is a `StoreError` saying so."""
    path = tmp_path / "jobs.db"
    store = SqliteStore(f"sqlite:///{path}", busy_timeout=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match=r"cannot write to SQLite database .* locked"):
            store.enqueue([new_job() for _ in range(batch)])
        other.execute("ROLLBACK")
        assert store.list() == []
        [stored] = store.enqueue([new_job()])  # the store is usable again
        assert store.list() == [stored]
    finally:
        other.close()
        store.close()
