"""PostgreSQL-only behaviour the conformance suite cannot see: versioned
migrations on an empty database (and under concurrency), the ``conveyor
migrate`` command, the warnings about server settings at open, the vacuum
workers run through `PostgresStore.maintain`, the claim plans, which
commits wait for the WAL flush, and the error for a server that cannot be
reached.

Each test that needs a database gets a new, empty one on the test server
(`fresh_db`), dropped afterwards: migrations and settings are per database,
and the shared ``test`` database always holds an up-to-date schema.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

import conveyor.stores.postgres as postgres_module
from conveyor.errors import StoreError
from conveyor.job import JobRecord, JobState, Outcome
from conveyor.stores import redact
from conveyor.stores.postgres import PostgresStore
from tests.backends import BACKENDS
from tests.helpers import logged_warnings, new_job, wait_for

POSTGRES = next(backend for backend in BACKENDS if backend.name == "postgres")
ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(postgres_module.__file__).parent
#: The schema version a migrated database is at: one per migration file.
LATEST = len(list((PACKAGE / "migrations").glob("*.sql")))
#: The store's own statement for the migration lock, so a test can hold the
#: very lock the store takes.
LOCK_MIGRATIONS = (PACKAGE / "queries" / "lock_migrations.sql").read_text("utf-8")
#: The tables docs/stores.md lists; every one must exist after migrating.
TABLES = (
    "conveyor_jobs",
    "conveyor_workers",
    "conveyor_schema",
    "conveyor_paused",
    "conveyor_schedules",
    "conveyor_rate_buckets",
    "conveyor_reservations",
    "conveyor_slots",
    "conveyor_parked",
)
#: The store's statements that take and release the vacuum lock.
VACUUM_DUE = (PACKAGE / "queries" / "vacuum_due.sql").read_text("utf-8")
#: Nothing listens on port 1 (binding it needs root).
UNREACHABLE = "postgresql://postgres:secret@127.0.0.1:1/test"
LOGGER = postgres_module.__name__


@pytest.fixture
def fresh_db(tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards."""
    server = POSTGRES.url(tmp_path)  # skips, or fails under CONVEYOR_REQUIRE_SERVICES=1
    name = f"conveyor_test_{uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def execute(url: str, statement: sql.Composed | str) -> list[tuple[Any, ...]]:
    """One statement on a connection of the test's own; its rows, if any."""
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def applied(url: str) -> list[tuple[Any, ...]]:
    """The rows of ``conveyor_schema``: (version, applied_at), in order."""
    return execute(url, "SELECT version, applied_at FROM conveyor_schema ORDER BY version")


def missing_tables(url: str) -> list[str]:
    return [
        table
        for table in TABLES
        if execute(url, sql.SQL("SELECT to_regclass({})").format(table))[0][0] is None
    ]


@contextmanager
def migration_lock(url: str) -> Iterator[Callable[[], None]]:
    """Hold the store's migration lock in `url` until the block ends or the
    function it gives is called, whichever comes first (ending the block
    releases it, so a failing test cannot leave migrations blocked)."""
    with psycopg.connect(url) as conn:
        conn.execute(LOCK_MIGRATIONS)
        try:
            yield conn.rollback
        finally:
            conn.rollback()


# -- migrations ---------------------------------------------------------------


def test_migrate_creates_the_latest_schema_on_an_empty_database(fresh_db: str) -> None:
    """Every migration file is applied and recorded, once: a second call
    must find nothing to do rather than fail on existing tables."""
    store = PostgresStore(fresh_db, migrate=False)
    try:
        assert store.schema_version() == 0
        assert missing_tables(fresh_db) == list(TABLES)

        assert store.migrate() == LATEST
        assert store.schema_version() == LATEST
        first = applied(fresh_db)
        assert [version for version, _ in first] == list(range(1, LATEST + 1))
        assert missing_tables(fresh_db) == []
        functions = execute(
            fresh_db, "SELECT proname FROM pg_proc WHERE proname LIKE 'conveyor\\_%' ORDER BY 1"
        )
        assert {("conveyor_admit",), ("conveyor_release",)} <= set(functions)
        # The autovacuum tuning docs/stores.md promises for the jobs table.
        [(options,)] = execute(
            fresh_db, "SELECT reloptions FROM pg_class WHERE oid = 'conveyor_jobs'::regclass"
        )
        assert "autovacuum_vacuum_scale_factor=0.01" in options

        # Again: nothing to do, nothing recorded again.
        assert store.migrate() == LATEST
        assert store.schema_version() == LATEST
        assert applied(fresh_db) == first
    finally:
        store.close()


def test_an_upgrade_replaces_the_database_functions(fresh_db: str) -> None:
    """Functions live in functions/*.sql, applied after any migration: a
    database one version behind gets the current ones with the new step."""
    store = PostgresStore(fresh_db)
    try:
        execute(fresh_db, "ALTER TABLE conveyor_rate_buckets DROP COLUMN holder")
        execute(fresh_db, f"DELETE FROM conveyor_schema WHERE version = {LATEST}")
        execute(
            fresh_db,
            "CREATE OR REPLACE FUNCTION conveyor_release(p_bucket text, p_limit integer) "
            "RETURNS integer LANGUAGE sql AS 'SELECT -1'",
        )
        assert store.schema_version() == LATEST - 1

        assert store.migrate() == LATEST
        [(admit,)] = execute(fresh_db, "SELECT pg_get_functiondef('conveyor_admit'::regproc)")
        assert "holder" in admit
        [(release,)] = execute(fresh_db, "SELECT pg_get_functiondef('conveyor_release'::regproc)")
        assert "SELECT -1" not in release
    finally:
        store.close()


def test_opening_a_store_migrates_an_empty_database(fresh_db: str) -> None:
    """Workers never run ``conveyor migrate``: the store must migrate on open."""
    store = PostgresStore(fresh_db)
    try:
        assert store.schema_version() == LATEST
        assert missing_tables(fresh_db) == []
    finally:
        store.close()


def test_concurrent_migrations_wait_for_the_lock_and_apply_each_step_once(
    fresh_db: str,
) -> None:
    """Both migrations are held at the lock until the test lets go, so they
    really race; a step applied twice would fail (``CREATE TABLE`` and
    ``CREATE FUNCTION`` have no ``IF NOT EXISTS``), as would a duplicate
    ``conveyor_schema`` row."""
    waiting = sql.SQL(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = {} "
        "AND application_name = 'conveyor' AND wait_event = 'advisory'"
    ).format(db_name(fresh_db))
    stores = [PostgresStore(fresh_db, migrate=False) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool, migration_lock(fresh_db) as release:
            futures = [pool.submit(store.migrate) for store in stores]
            wait_for(
                lambda: execute(fresh_db, waiting)[0][0] == 2,
                timeout=10,
                message="both migrations waiting on the advisory lock",
            )
            assert not any(future.done() for future in futures)
            assert missing_tables(fresh_db) == list(TABLES)

            release()
            assert [future.result(timeout=20) for future in futures] == [LATEST, LATEST]
        assert [version for version, _ in applied(fresh_db)] == list(range(1, LATEST + 1))
        assert missing_tables(fresh_db) == []
    finally:
        for store in stores:
            store.close()


def test_migrate_on_an_up_to_date_schema_takes_no_lock(fresh_db: str) -> None:
    """Workers starting while a deploy migrates (or while anything holds the
    lock) must not queue behind it when they have nothing to apply:
    docs/stores.md promises "an up-to-date schema costs two reads, no lock"."""
    store = PostgresStore(fresh_db)
    try:
        with ThreadPoolExecutor(1) as pool:
            with migration_lock(fresh_db):
                future = pool.submit(store.migrate)
                done, _ = wait([future], timeout=5)
            assert done, "migrate() waited for the migration lock with nothing to apply"
            assert future.result() == LATEST
    finally:
        store.close()


def run_cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    """``python -m conveyor ARGS`` on the CLI test app, with its store at `url`."""
    return subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        cwd=ROOT,
        env={**os.environ, "CONVEYOR_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_migrate_reports_the_version_before_and_after(fresh_db: str) -> None:
    """Deploy steps run it and read its line (docs/stores.md shows the format)."""
    first = run_cli("migrate", "tests.apps.cli_app:app", url=fresh_db)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"{redact(fresh_db)}: schema version 0 -> {LATEST}\n"

    again = run_cli("migrate", "tests.apps.cli_app:app", url=fresh_db)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{redact(fresh_db)}: schema version {LATEST} -> {LATEST} (up to date)\n"
    assert [version for version, _ in applied(fresh_db)] == list(range(1, LATEST + 1))


# -- warnings about server settings -------------------------------------------


SYNC_WARNING = "has synchronous_commit=off"
AUTOVACUUM_WARNING = "does not autovacuum conveyor_jobs"


def warnings_on_open(
    url: str, caplog: pytest.LogCaptureFixture, *, forget_checks: bool = True
) -> list[str]:
    """The warnings the store logs while it opens on `url`.

    The store checks each server once per process (``_CHECKED``): unless
    `forget_checks` is false, the test's monkeypatched set is emptied first."""
    if forget_checks:
        postgres_module._CHECKED.clear()
    caplog.clear()
    PostgresStore(url).close()
    return logged_warnings(caplog, LOGGER)


@pytest.fixture
def checks(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture the store's warnings, on a set of checked servers of the
    test's own (the module's is restored afterwards)."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    monkeypatch.setattr(postgres_module, "_CHECKED", set())


def server_autovacuum(url: str) -> bool:
    """Whether the server autovacuums: a server-wide setting that no session
    or database may change, so the tests adapt to it rather than set it."""
    return bool(execute(url, "SELECT current_setting('autovacuum') = 'on'")[0][0])


@pytest.mark.usefixtures("checks")
def test_warns_once_when_synchronous_commit_is_off(
    fresh_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With synchronous_commit=off a server crash loses enqueued jobs the
    caller was told were stored: the operator must hear of it, once."""
    if execute(fresh_db, "SELECT current_setting('synchronous_commit')")[0][0] == "off":
        pytest.skip("the server already has synchronous_commit=off for every database")
    assert not any(SYNC_WARNING in w for w in warnings_on_open(fresh_db, caplog))

    execute(
        fresh_db,
        sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
            sql.Identifier(db_name(fresh_db))
        ),
    )
    [warning] = [w for w in warnings_on_open(fresh_db, caplog) if SYNC_WARNING in w]
    assert warning.startswith(f"PostgreSQL at {redact(fresh_db)} ")

    again = warnings_on_open(fresh_db, caplog, forget_checks=False)
    assert again == [], "warned twice in one process"


@pytest.mark.usefixtures("checks")
def test_warns_when_autovacuum_is_off_for_the_jobs_table(
    fresh_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The table's own setting counts too, not only the server's."""
    if not server_autovacuum(fresh_db):
        pytest.skip("the server has autovacuum=off: the store warns whatever the table says")
    # Default settings: no warning (this open also creates the table).
    assert warnings_on_open(fresh_db, caplog) == []

    execute(fresh_db, "ALTER TABLE conveyor_jobs SET (autovacuum_enabled = false)")
    [warning] = warnings_on_open(fresh_db, caplog)
    assert AUTOVACUUM_WARNING in warning
    assert redact(fresh_db) in warning


@pytest.mark.usefixtures("checks")
def test_warns_when_the_server_does_not_autovacuum(
    fresh_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that never vacuums leaves the store's other tables to bloat."""
    if server_autovacuum(fresh_db):
        pytest.skip("the server has autovacuum=on, and only a reload of the server can turn it off")
    [warning] = warnings_on_open(fresh_db, caplog)
    assert AUTOVACUUM_WARNING in warning
    assert redact(fresh_db) in warning


# -- maintain: the store's own vacuum ----------------------------------------


def vacuums(url: str) -> int:
    """How many times conveyor_jobs was vacuumed by hand (not by autovacuum)."""
    [(count,)] = execute(
        url, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'conveyor_jobs'::regclass"
    )
    return int(count)


def churn(store: PostgresStore, jobs: int) -> None:
    """Enqueue, claim and finish `jobs` jobs: two dead row versions each."""
    store.enqueue([new_job() for _ in range(jobs)])
    while claimed := store.claim(["default"], "w", 500, 60.0):
        store.finish([Outcome(r.id, r.attempt, JobState.SUCCEEDED, result="1") for r in claimed])


def test_maintain_vacuums_the_jobs_table_once_enough_rows_died(fresh_db: str) -> None:
    """Autovacuum wakes once a minute at best, and not at all on this server:
    the dead ready-index entries of claimed jobs would slow every claim."""
    store = PostgresStore(fresh_db)
    try:
        store.maintain()
        assert vacuums(fresh_db) == 0, "vacuumed with nothing dead"
        churn(store, 3_000)  # 6,000 dead rows: past 1,000 + 5 % of the live ones

        def vacuumed() -> bool:
            store.maintain()  # the statistics it reads lag by a second or so
            return vacuums(fresh_db) == 1

        wait_for(vacuumed, timeout=20, interval=0.5, message="a vacuum by maintain()")
        [(dead,)] = execute(
            fresh_db,
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'conveyor_jobs'::regclass",
        )
        assert dead < 1_000
        # The lock is released: another session can take it at once.
        [(taken,)] = execute(
            fresh_db, "SELECT pg_try_advisory_lock(hashtextextended('conveyor-vacuum', 0))"
        )
        assert taken
    finally:
        store.close()


def test_maintain_leaves_the_vacuum_to_whoever_holds_its_lock(fresh_db: str) -> None:
    """Workers of one database vacuum one at a time, and the others never
    wait for it: `maintain` runs on the worker's upkeep thread."""
    store = PostgresStore(fresh_db)
    try:
        churn(store, 3_000)
        with psycopg.connect(fresh_db, autocommit=True) as holder:
            wait_for(
                lambda: (
                    holder.execute(VACUUM_DUE, {"dead": 1_000, "share": 0.05}).fetchone() == (True,)
                ),
                timeout=20,
                interval=0.5,
                message="the dead rows counted and the vacuum lock taken",
            )
            for _ in range(3):
                started = time.monotonic()
                store.maintain()
                assert time.monotonic() - started < 1.0
                time.sleep(1.0)  # past the store's throttle
            assert vacuums(fresh_db) == 0
    finally:
        store.close()


def index_scans(url: str, index: str) -> int:
    """Scans of one of conveyor_jobs' indexes, as the statistics have them."""
    [(count,)] = execute(
        url,
        sql.SQL("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = {}").format(
            sql.Literal(index)
        ),
    )
    return int(count)


def list_dead(store: PostgresStore, dead: list[JobRecord]) -> None:
    listed = store.list(states={JobState.DEAD}, limit=3)
    assert [r.state for r in listed] == [JobState.DEAD] * 3
    assert [r.id for r in listed] == [r.id for r in reversed(dead)][:3]


def purge_dead(store: PostgresStore, dead: list[JobRecord]) -> None:
    # What is left is not read here: a listing would scan the index itself.
    assert store.purge({JobState.DEAD}) == len(dead)


@pytest.mark.parametrize("action", [list_dead, purge_dead], ids=["list", "purge"])
def test_a_state_filter_reads_that_states_index(
    fresh_db: str, action: Callable[[PostgresStore, list[JobRecord]], None]
) -> None:
    """The session plans its statements generically (configure_session.sql),
    and a generic plan cannot use a state's partial index: listing or purging
    a few dead jobs among many finished ones walked every job."""
    store = PostgresStore(fresh_db)
    try:
        churn(store, 3_000)
        store.enqueue([new_job() for _ in range(5)])
        dead = store.claim(["default"], "w", 5, 60.0)
        store.finish([Outcome(r.id, r.attempt, JobState.DEAD, reason="max_attempts") for r in dead])
        execute(fresh_db, "ANALYZE conveyor_jobs")  # this server does not autovacuum
        before = index_scans(fresh_db, "conveyor_jobs_finished")
        time.sleep(1.1)  # a backend reports at commit when it last did a second ago
        action(store, dead)
        wait_for(
            lambda: index_scans(fresh_db, "conveyor_jobs_finished") > before,
            timeout=20,
            interval=0.5,
            message="a scan of conveyor_jobs_finished",
        )
    finally:
        store.close()


# -- an unreachable server ----------------------------------------------------


def test_unreachable_server_is_one_line_store_error(caplog: pytest.LogCaptureFixture) -> None:
    """Workers log a StoreError as one line and retry: it must say where and
    why in one line, without the password, and promptly."""
    caplog.set_level(logging.DEBUG)
    began = time.monotonic()
    with pytest.raises(StoreError) as raised:
        PostgresStore(UNREACHABLE, connect_timeout=2)
    assert time.monotonic() - began < 5
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("PostgreSQL at postgresql://postgres:***@127.0.0.1:1/test: ")
    assert "cannot open the store" in message
    assert "secret" not in message
    # No pool retrying in the background, logging each failure.
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_cli_on_an_unreachable_server_prints_one_error_line() -> None:
    """An operator running the command needs the reason, not a traceback."""
    result = run_cli("migrate", "tests.apps.cli_app:app", url=UNREACHABLE)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: PostgreSQL at postgresql://postgres:***@127.0.0.1:1/test: ")
    assert "secret" not in result.stderr


@pytest.mark.parametrize("statement", ["claim_one", "claim"])
def test_a_claim_updates_its_rows_through_the_primary_key_on_stale_statistics(
    fresh_db: str, statement: str
) -> None:
    """A queue table's statistics are always stale (autovacuum runs a minute
    apart at best). A claim planned on them must still find the rows it
    locked by `seq`, not by reading the whole ready index, whose partial
    predicate a redundant state check would let the plan use."""
    store = PostgresStore(fresh_db)
    try:
        for _ in range(5):
            store.enqueue([new_job() for _ in range(1_000)])
        params = {"worker": "w", "limit": 10, "lease": 30.0, "queue": "default",
                  "queues": ["default"]}  # fmt: skip
        text = (PACKAGE / "queries" / f"{statement}.sql").read_text("utf-8")
        with psycopg.connect(fresh_db, autocommit=True) as conn:  # planned, not run
            plan = [row[0] for row in conn.execute("EXPLAIN " + text, params)]
    finally:
        store.close()
    # The update's own scan is its one direct child; the InitPlans before it
    # are the locking subquery, which reads the ready index as it should.
    first = next(n for n, line in enumerate(plan) if line.startswith("  ->  "))
    update_scan = "\n".join(plan[first:])
    assert "conveyor_jobs_pkey" in update_scan, "\n".join(plan)
    assert "conveyor_jobs_ready" not in update_scan, "\n".join(plan)


def _wal_syncs_settled(url: str) -> int:
    """The server's count of WAL flushes to disk, once the sessions of a
    closed store have exited (a session reports its counts when it ends):
    the count unchanged over three reads 0.1 s apart."""
    counts: list[int] = []
    for _ in range(100):
        time.sleep(0.1)
        counts.append(int(execute(url, "SELECT wal_sync FROM pg_stat_wal")[0][0]))
        if len(counts) >= 3 and counts[-1] == counts[-2] == counts[-3]:
            break
    return counts[-1]


@pytest.mark.parametrize("queues", [["default"], ["default", "other"]], ids=["claim_one", "claim"])
def test_claims_commit_without_waiting_for_the_disk_outcomes_wait(
    fresh_db: str, queues: list[str]
) -> None:
    """A claim that a server crash undoes puts its jobs back to run again,
    as any crash would, so claims commit without waiting for the WAL flush;
    enqueues and outcomes wait for it. Counted in the server's WAL syncs:
    forty claims add a few at most (the WAL writer's), forty enqueues or
    forty outcomes add forty."""
    names = "'fsync', 'synchronous_commit', 'server_version_num'"
    settings = dict(
        execute(fresh_db, f"SELECT name, setting FROM pg_settings WHERE name IN ({names})")
    )
    if int(settings["server_version_num"]) < 140000:
        pytest.skip("pg_stat_wal, which counts WAL syncs, came with PostgreSQL 14")
    if settings["fsync"] == "off" or settings["synchronous_commit"] == "off":
        pytest.skip("this server does not flush the WAL at every commit")
    n = 40
    before_enqueues = _wal_syncs_settled(fresh_db)
    store = PostgresStore(fresh_db)
    for _ in range(n):
        store.enqueue([new_job()])
    store.close()
    before = _wal_syncs_settled(fresh_db)

    store = PostgresStore(fresh_db)
    claimed = [record for _ in range(n) for record in store.claim(queues, "w", 1, 60.0)]
    store.close()
    after_claims = _wal_syncs_settled(fresh_db)

    store = PostgresStore(fresh_db)
    for record in claimed:
        store.finish([Outcome(record.id, record.attempt, JobState.SUCCEEDED)])
    store.close()
    after_outcomes = _wal_syncs_settled(fresh_db)

    assert before - before_enqueues >= n
    assert len(claimed) == n
    assert after_claims - before < n // 2
    assert after_outcomes - after_claims >= n
