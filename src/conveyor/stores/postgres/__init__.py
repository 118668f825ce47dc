"""The PostgreSQL store: jobs in one table, claimed with ``FOR UPDATE SKIP LOCKED``.

Every primitive is one short transaction, mostly one statement; where two go
together (staging due jobs before a claim) they are sent in one pipeline,
which runs as one implicit transaction and costs one round trip. No
transaction is open while a job runs.

The database clock decides: SQL compares with ``now()`` and computes every
time from it; rows come back with their timestamps as epoch seconds.

Idle workers wait on LISTEN/NOTIFY (see `_listener`), but a notification is
only a hint: the table is the truth, and waiters poll it too.

Jobs can be enqueued inside the caller's own transaction
(``task.options(connection=conn)``): they exist if and when it commits.
"""

from __future__ import annotations

import builtins
import logging
import select
import struct
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import pq
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap, Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import RowMaker, no_result, tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from conveyor.errors import StoreError
from conveyor.job import JobRecord, JobState, NewJob, Outcome
from conveyor.stores import redact
from conveyor.stores._records import error_json, parse_errors, record_from_row
from conveyor.stores._sql import functions, migrations, purge_in_batches, query
from conveyor.stores.base import (
    ADMIT_WAIT,
    PARK_SECONDS,
    Capabilities,
    ConcurrencyLimit,
    Lease,
    QueueStats,
    RateLimit,
    WorkerInfo,
)
from conveyor.stores.postgres._listener import Listener

__all__ = ["PostgresStore"]

_SQL = __name__
log = logging.getLogger(__name__)
#: Servers whose settings this process has checked (`PostgresStore._check_settings`).
_CHECKED: set[str] = set()
Connection = psycopg.Connection[Any]
Row = dict[str, Any]

#: Scheduled jobs staged by one claim at most, so its transaction stays short.
_STAGE_LIMIT = 10_000
#: Seconds between stagings while every claim comes back full: the most a
#: due scheduled job waits behind a saturated worker's backlog.
_STAGE_EVERY = 0.05
#: `maintain` vacuums conveyor_jobs once this many rows died since the last
#: vacuum, plus this share of the live rows (autovacuum's rule, but looked at
#: every `_MAINTAIN_EVERY` seconds instead of every autovacuum_naptime).
_VACUUM_DEAD = 1_000
_VACUUM_SHARE = 0.05
_MAINTAIN_EVERY = 1.0
#: Times an enqueue is retried when a unique key's holder finished between the
#: insert's conflict check and its snapshot (two producers racing on one key).
_KEY_RETRIES = 5
#: 2000-01-01 in Unix time, in microseconds: binary timestamps count from it.
_PG_EPOCH_MICROS = 946_684_800_000_000
_micros = struct.Struct(">q").unpack
#: The states in which a job holds its unique key.
_ACTIVE = frozenset({"scheduled", "queued", "running"})


def _sql(name: str) -> str:
    """A statement from ``queries/``: the package's own text, never built from input."""
    return query(_SQL, name)


class _EpochLoader(Loader):
    """Binary ``timestamptz`` to epoch seconds, the protocol's unit of time."""

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> float:
        micros: int = _micros(data)[0]
        # One rounding, as SQL's extract(epoch FROM ...)::float8 does (claims
        # return times that way): the same instant reads as the same float.
        return (micros + _PG_EPOCH_MICROS) / 1_000_000


class _ErrorsLoader(Loader):
    """Binary ``jsonb`` (the ``errors`` column) to its JSON text, undecoded:
    `parse_errors` decodes it, and skips the common ``[]`` without a parse."""

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> str:
        return bytes(data[1:]).decode()  # after the format version byte


def _register_loaders(adapters: AdaptersMap) -> None:
    adapters.register_loader("timestamptz", _EpochLoader)
    adapters.register_loader("jsonb", _ErrorsLoader)


#: Column names by the raw names a result reports: every statement returns
#: one of a few shapes, so they are decoded once, not per query.
_NAMES: dict[tuple[bytes | None, ...], tuple[str, ...]] = {}


def _dict_rows(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    """Like psycopg's ``dict_row``, without building ``cursor.description``
    for every result (a tenth of a cheap query's cost)."""
    result = cursor.pgresult
    if result is None:
        return no_result
    raw = tuple(result.fname(i) for i in range(result.nfields))
    names = _NAMES.get(raw)
    if names is None:
        names = _NAMES.setdefault(raw, tuple((n or b"").decode() for n in raw))

    def make(values: Sequence[Any]) -> Row:
        return dict(zip(names, values, strict=True))

    return make


def _cursor(conn: Connection, *, callers: bool = False) -> psycopg.Cursor[Row]:
    """Rows as dicts, in binary, times as epoch seconds. The store's own
    connections have the loaders already; on the caller's connection it
    is set on the cursor only, as the connection is not ours to change."""
    cursor = conn.cursor(row_factory=_dict_rows, binary=True)
    if callers:
        _register_loaders(cursor.adapters)
    return cursor


def _one_line(exc: BaseException) -> str:
    """psycopg's messages span lines (a hint, a detail); logs want one."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _quiet(conn: Connection) -> bool:
    """True if the server has said nothing since the connection went idle.

    An idle server connection speaks first only to say it is closing (a
    restart, an administrator's terminate): such a connection is dropped before
    use instead of failing the caller's statement.
    """
    if conn.closed:
        return False
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return not poller.poll(0)


def _plain_success(outcome: Outcome) -> bool:
    return outcome.state is JobState.SUCCEEDED and outcome.error is None and outcome.reason is None


def _active(row: JobRow) -> bool:
    return row[_STATE] in _ACTIVE


#: A job row as claims and enqueues return it: `JobRecord`'s fields in order,
#: times as epoch seconds, errors as JSON text, then ``seq`` (see claim.sql).
JobRow = tuple[Any, ...]
_ID, _STATE, _PRIORITY, _RUN_AT, _KEY, _SEQ = 0, 4, 5, 8, 11, 19


def _claim_order(row: JobRow) -> tuple[int, float, int]:
    return (-row[_PRIORITY], row[_RUN_AT], row[_SEQ])


def _job_record(row: JobRow) -> JobRecord:
    """A `JobRow` as a record: no dict, no Python loader per value."""
    return JobRecord(
        id=row[0],
        task=row[1],
        queue=row[2],
        payload=row[3],
        state=JobState(row[4]),
        priority=row[5],
        attempt=row[6],
        max_attempts=row[7],
        run_at=row[8],
        created_at=row[9],
        timeout=row[10],
        key=row[11],
        started_at=row[12],
        finished_at=row[13],
        lease_expires_at=row[14],
        worker=row[15],
        result=row[16],
        reason=row[17],
        errors=parse_errors(row[18]),
    )


class PostgresStore:
    """Jobs in PostgreSQL, for ``postgresql://`` and ``postgres://`` URLs.

    `connect_timeout` bounds opening a connection, and waiting for a free one
    from the pool of at most `pool_size`. With ``migrate=False`` the schema is
    left as it is (``conveyor migrate`` uses it to show the version first).
    """

    capabilities = Capabilities(shared=True, transactional_enqueue=True)

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout: float = 5.0,
        migrate: bool = True,
    ) -> None:
        self.url = url
        self._where = redact(url)
        self._timeout = connect_timeout
        with self._errors("open the store"):
            given = conninfo_to_dict(url)
            self._kwargs: dict[str, Any] = {"autocommit": True}
            if "connect_timeout" not in given:
                self._kwargs["connect_timeout"] = max(1, round(connect_timeout))
            if "application_name" not in given:
                self._kwargs["application_name"] = "conveyor"
            # One plain connection first: an unreachable server is one clear
            # error now, where a pool would retry in the background.
            with psycopg.connect(url, **self._kwargs) as conn:
                if migrate:
                    self._migrate(conn)
                self._check_settings(conn)
        _quiet_pool_logging()
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            kwargs=self._kwargs,
            min_size=1,
            max_size=pool_size,
            open=False,
            configure=_configure,
            timeout=connect_timeout,
            name="conveyor",
        )
        self._pool.open()
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        #: Whether the last claim took all it asked for, and when (monotonic)
        #: a claim last staged due scheduled jobs (see `claim`).
        self._claims_full = False
        self._staged_at = 0.0
        self._maintained_at = 0.0

    # -- connections -----------------------------------------------------

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            detail = _one_line(exc)
            if isinstance(exc, PoolTimeout):
                detail = f"{detail} ({self._diagnose()})"
            raise StoreError(f"PostgreSQL at {self._where}: cannot {action}: {detail}") from exc

    def _diagnose(self) -> str:
        """Why the pool has no connection to give: it retries in the background
        and keeps the reason to itself, so try once here."""
        try:
            psycopg.connect(self.url, **{**self._kwargs, "connect_timeout": 2}).close()
        except psycopg.Error as exc:
            return _one_line(exc)
        return f"the server accepts connections; all {self._pool.max_size} are in use"

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        conn = self._checkout()
        try:
            yield conn
        except psycopg.errors.FeatureNotSupported:
            # "cached plan must not change result type": a newer migration
            # changed a table under this connection's prepared statements.
            # Its replacement prepares them afresh.
            conn.close()
            raise
        finally:
            self._pool.putconn(conn)

    def _checkout(self) -> Connection:
        """A pooled connection the server has not closed meanwhile.

        After a server restart every idle connection is dead; they are dropped
        here one after another (the pool opens new ones), so the first call
        after a restart succeeds instead of failing once per stale connection.
        """
        for _ in range(self._pool.max_size):
            conn = self._pool.getconn()
            if _quiet(conn):
                return conn
            conn.close()
            self._pool.putconn(conn)
        return self._pool.getconn()

    def _one(self, name: str, action: str, params: dict[str, Any]) -> Row:
        with self._errors(action), self._connection() as conn:
            row = _cursor(conn).execute(_sql(name), params).fetchone()
        assert row is not None
        return row

    def _all(self, name: str, action: str, params: dict[str, Any]) -> builtins.list[Row]:
        with self._errors(action), self._connection() as conn:
            return _cursor(conn).execute(_sql(name), params).fetchall()

    def _rowcount(self, name: str, action: str, params: dict[str, Any]) -> int:
        with self._errors(action), self._connection() as conn:
            return conn.execute(_sql(name), params).rowcount

    @contextmanager
    def _planned_per_call(self, action: str) -> Iterator[Connection]:
        """A transaction whose statements are planned for their parameters
        (custom_plan.sql), for the admin statements whose filters decide which
        index serves them: the session's generic plan cannot use a state's
        partial index for a state given as a parameter."""
        with self._errors(action), self._connection() as conn, conn.transaction():
            conn.execute(_sql("custom_plan"))
            yield conn

    def close(self) -> None:
        with self._listener_lock:
            if self._listener is not None:
                self._listener.stop()
                self._listener = None
        self._pool.close()

    def _check_settings(self, conn: Connection) -> None:
        """Warn, once per server per process, about settings that lose jobs or
        let the table bloat (logged, not refused: the operator decides)."""
        if self._where in _CHECKED:
            return
        _CHECKED.add(self._where)
        row = _cursor(conn, callers=True).execute(_sql("server_settings")).fetchone()
        assert row is not None
        if row["synchronous_commit"] == "off":
            log.warning(
                "PostgreSQL at %s has synchronous_commit=off: a server crash can lose "
                "the last enqueued jobs and stored outcomes",
                self._where,
            )
        if not row["autovacuum"]:
            log.warning(
                "PostgreSQL at %s does not autovacuum conveyor_jobs: workers vacuum it "
                "as rows die, but nothing refreshes its planner statistics or vacuums "
                "the store's other tables (see docs/stores.md)",
                self._where,
            )

    # -- schema ----------------------------------------------------------

    def schema_version(self) -> int:
        """The last migration applied; 0 on a database conveyor never used."""
        with self._errors("read the schema version"), self._connection() as conn:
            return self._version(conn)

    def migrate(self) -> int:
        """Apply the migrations this version knows and the database lacks;
        returns the schema version after."""
        with self._errors("migrate the schema"), self._connection() as conn:
            return self._migrate(conn)

    @staticmethod
    def _version(conn: Connection) -> int:
        present = conn.execute(_sql("schema_table_exists")).fetchone()
        if not (present and present[0]):
            return 0
        row = conn.execute(_sql("schema_version")).fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, conn: Connection) -> int:
        """Bring the schema up to date in one transaction, under an advisory
        lock so workers starting together do not race; a database already up
        to date costs two reads and no lock."""
        steps = migrations(_SQL)
        current = self._version(conn)
        if current >= steps[-1][0]:
            return current
        with conn.transaction():
            conn.execute(_sql("lock_migrations"))
            conn.execute(_sql("create_schema_table"))
            current = self._version(conn)
            applied = False
            for version, script in steps:
                if version > current:
                    conn.execute(script)
                    conn.execute(_sql("record_migration"), {"version": version})
                    current, applied = version, True
            if applied:  # a change to functions/ comes with a migration
                for script in functions(_SQL):
                    conn.execute(script)
        return current

    # -- the protocol ----------------------------------------------------

    def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> builtins.list[JobRecord]:
        if connection is None:
            with self._errors("enqueue jobs"), self._connection() as conn:
                return self._insert(conn, jobs)
        if not isinstance(connection, psycopg.Connection):
            raise StoreError(
                "the PostgreSQL store enqueues in a psycopg.Connection's transaction, "
                f"not a {type(connection).__name__}"
            )
        with self._errors("enqueue in the caller's transaction"):
            return self._insert(connection, jobs)

    def _insert(self, conn: Connection, jobs: Sequence[NewJob]) -> builtins.list[JobRecord]:
        """One statement inserts and NOTIFYs (one job: plain parameters, a
        batch: arrays). A job whose id is stored already gets that stored
        record back, so a batch whose reply was lost can be sent again. On the
        caller's connection it is part of the caller's transaction, neither
        committed nor rolled back here (PostgreSQL delivers the NOTIFY at its
        commit, or never)."""
        found: dict[str, JobRow] = {}
        pending = list(jobs)
        for _ in range(_KEY_RETRIES):
            if not pending:
                break
            cursor = conn.cursor(row_factory=tuple_row, binary=True)
            if len(pending) == 1:
                cursor.execute(_sql("insert_job"), _insert_one_params(pending[0]))
            else:
                cursor.execute(_sql("insert_jobs"), _insert_params(pending))
            pending = _settle(pending, cursor.fetchall(), found)
        if pending:
            raise StoreError(f"jobs with key {pending[0].key!r} keep racing: try again")
        return [_job_record(found[job.id]) for job in jobs]

    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float
    ) -> builtins.list[JobRecord]:
        """Due scheduled jobs are staged first, in the same round trip, except
        while this store's claims come back full: then at most every
        `_STAGE_EVERY` seconds (a saturated worker has a backlog to run anyway,
        and staging on every claim is a statement per batch for nothing)."""
        if limit <= 0 or not queues:
            return []
        names = list(dict.fromkeys(queues))
        params: dict[str, Any] = {"worker": worker, "limit": limit, "lease": lease}
        if len(names) == 1:
            statement, params["queue"] = _sql("claim_one"), names[0]
        else:
            statement, params["queues"] = _sql("claim"), names
        started = time.monotonic()
        stage = not self._claims_full or started - self._staged_at >= _STAGE_EVERY
        with self._errors("claim jobs"), self._connection() as conn:
            cursor = conn.cursor(row_factory=tuple_row, binary=True)
            if stage:
                with conn.pipeline():
                    conn.execute(_sql("stage_due"), {"limit": _STAGE_LIMIT})
                    cursor.execute(statement, params)
            else:
                cursor.execute(statement, params)
            rows = cursor.fetchall()
        if stage:
            self._staged_at = started
        self._claims_full = len(rows) >= limit
        rows.sort(key=_claim_order)
        return [_job_record(row) for row in rows]

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float
    ) -> builtins.list[str]:
        extended: set[str] = set()
        with self._errors("heartbeat"), self._connection() as conn, conn.pipeline():
            conn.execute(
                _sql("upsert_worker"),
                {
                    "id": worker.id,
                    "hostname": worker.hostname,
                    "pid": worker.pid,
                    "queues": list(worker.queues),
                    "concurrency": worker.concurrency,
                    "started_at": worker.started_at,
                },
            )
            if leases:
                cursor = conn.cursor(row_factory=tuple_row)
                cursor.execute(
                    _sql("extend_leases"),
                    {
                        "id": [held.job_id for held in leases],
                        "attempt": [held.attempt for held in leases],
                        "lease": lease,
                    },
                )
                extended = {row[0] for row in cursor.fetchall()}
        return [held.job_id for held in leases if held.job_id not in extended]

    def admit(
        self,
        lease: Lease,
        *,
        rate: RateLimit | None = None,
        concurrency: ConcurrencyLimit | None = None,
    ) -> float | None:
        """One call of the ``conveyor_admit`` function (``functions/``): one
        round trip, with nothing between the decision and the reply but an
        unflushed commit (see ``queries/admit.sql``)."""
        params = {
            "id": lease.job_id,
            "attempt": lease.attempt,
            "rate": None if rate is None else rate.bucket,
            "interval": None if rate is None else rate.interval,
            "bucket": None if concurrency is None else concurrency.bucket,
            "limit": None if concurrency is None else concurrency.limit,
            "park": PARK_SECONDS,
            "admit_wait": ADMIT_WAIT,
        }
        wait = self._one("admit", "check limits", params)["wait"]
        return None if wait is None else float(wait)

    def release(self, limit: ConcurrencyLimit) -> int:
        params = {"bucket": limit.bucket, "limit": limit.limit}
        return int(self._one("release", "release a slot", params)["woken"])

    def finish(self, outcomes: Sequence[Outcome]) -> int:
        """One statement per batch; a batch of plain successes (the usual
        one) takes a lighter statement than one with retries or failures."""
        if not outcomes:
            return 0
        statement, params = _finish_statement(outcomes)
        with self._errors("store outcomes"), self._connection() as conn:
            cursor = conn.cursor(row_factory=tuple_row).execute(statement, params)
            if cursor.description is None:  # finish_succeeded: no rows back
                return cursor.rowcount
            row = cursor.fetchone()
            return 0 if row is None else int(row[0])

    def recover(self) -> int:
        return int(self._one("recover", "recover expired leases", {})["recovered"])

    def maintain(self) -> None:
        """Vacuum conveyor_jobs once enough of its rows have died.

        Every claim and outcome leaves a dead row, and a dead entry at the
        head of the ready index that each later claim steps over until a
        vacuum removes it; autovacuum visits a database at most once per
        ``autovacuum_naptime`` (a minute by default), or never where it is
        off, and a busy minute leaves hundreds of thousands: draining 100,000
        jobs ran 25 % slower than 10,000 before this. One worker at a time
        vacuums, holding a lock that the others try and pass by."""
        now = time.monotonic()
        if now - self._maintained_at < _MAINTAIN_EVERY:
            return
        self._maintained_at = now
        params = {"dead": _VACUUM_DEAD, "share": _VACUUM_SHARE}
        with self._errors("vacuum conveyor_jobs"), self._connection() as conn:
            row = conn.execute(_sql("vacuum_due"), params).fetchone()
            if not (row and row[0]):
                return
            try:
                conn.execute(_sql("vacuum"), prepare=False)
            finally:
                conn.execute(_sql("vacuum_done"))

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._all("get_job", "read a job", {"id": job_id})
        return record_from_row(rows[0]) if rows else None

    def list(
        self,
        *,
        states: Collection[JobState] = (),
        queue: str | None = None,
        task: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[JobRecord]:
        """Planned for its filters (custom_plan.sql): a state filter reads that
        state's partial index. Under the session's generic plan, listing the
        dead jobs of 200,000 walked them all by seq: 73 ms, against 1 ms."""
        params = {
            "all_states": not states,
            "states": [s.value for s in states],
            "queue": queue,
            "task": task,
            "limit": None if limit < 0 else limit,  # no limit, as on the other stores
            "offset": offset,
        }
        with self._planned_per_call("list jobs") as conn:
            rows = _cursor(conn).execute(_sql("list_jobs"), params).fetchall()
        return [record_from_row(row) for row in rows]

    def counts(self) -> builtins.list[QueueStats]:
        counts: dict[str, dict[JobState, int]] = {}
        oldest: dict[str, float] = {}
        finished: dict[str, int] = {}
        for row in self._all("counts", "count jobs", {}):
            name = row["queue"]
            counts.setdefault(name, {})[JobState(row["state"])] = row["n"]
            oldest[name] = max(oldest.get(name, 0.0), row["oldest_wait"])
            finished[name] = finished.get(name, 0) + row["finished_last_minute"]
        return [
            QueueStats(
                queue=name,
                counts=counts[name],
                oldest_wait=oldest[name],
                finished_last_minute=finished[name],
            )
            for name in sorted(counts)
        ]

    def workers(self, ttl: float) -> builtins.list[WorkerInfo]:
        return [
            WorkerInfo(
                id=row["id"],
                hostname=row["hostname"],
                pid=row["pid"],
                queues=tuple(row["queues"]),
                concurrency=row["concurrency"],
                started_at=row["started_at"],
                last_seen=row["last_seen"],
            )
            for row in self._all("live_workers", "list workers", {"ttl": float(ttl)})
        ]

    def unregister_worker(self, worker_id: str) -> None:
        self._rowcount("delete_worker", "unregister a worker", {"id": worker_id})

    def cancel(self, job_id: str) -> bool:
        return self._rowcount("cancel", "cancel a job", {"id": job_id}) == 1

    def pause(self, queue: str) -> None:
        self._rowcount("pause", "pause a queue", {"queue": queue})

    def resume(self, queue: str) -> None:
        self._all("resume", "resume a queue", {"queue": queue})

    def paused(self) -> builtins.set[str]:
        return {row["queue"] for row in self._all("paused", "read paused queues", {})}

    def fired(self, schedules: Sequence[str]) -> dict[str, float]:
        rows = self._all("fired", "read schedules", {"names": list(schedules)})
        return {row["name"]: float(row["last_fire"]) for row in rows}

    def mark_fired(self, schedule: str, fire_at: float) -> None:
        self._rowcount("mark_fired", "record a fire", {"name": schedule, "at": float(fire_at)})

    def requeue_dead(self, job_ids: Sequence[str]) -> int:
        if not job_ids:
            return 0
        row = self._one("requeue_dead", "requeue dead jobs", {"ids": list(job_ids)})
        return int(row["replayed"])

    def purge(
        self,
        states: Collection[JobState],
        *,
        queue: str | None = None,
        older_than: float | None = None,
        limit: int | None = None,
    ) -> int:
        """In short transactions of `PURGE_BATCH` rows (see `purge_in_batches`),
        each planned for its states, as the listing is: under the generic plan,
        purging the 200 dead jobs among 200,000 walked them all (60 ms)."""

        def delete(name: str, params: dict[str, Any]) -> int:
            with self._planned_per_call("purge jobs") as conn:
                return conn.execute(_sql(name), params).rowcount

        total = purge_in_batches(delete, states, queue=queue, older_than=older_than, limit=limit)
        if total:
            self._rowcount("prune_limits", "prune limit reservations", {})
        return total

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Return when a NOTIFY names one of `queues`, a job of theirs is due,
        the earliest scheduled job falls due, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        listener = self._listen(deadline)
        if listener.take(queues):
            return
        row = self._one("next_due", "look for due jobs", {"queues": list(queues)})
        if row["ready"]:
            return
        if row["due_in"] is not None:
            deadline = min(deadline, time.monotonic() + max(0.0, row["due_in"]))
        remaining = deadline - time.monotonic()
        if remaining > 0:
            listener.wait(queues, remaining)

    def _listen(self, deadline: float) -> Listener:
        """The listener, started on first use and LISTENing before the table is
        read (else a job enqueued in between would wake nobody)."""
        with self._listener_lock:
            if self._listener is None:
                self._listener = Listener(
                    lambda: psycopg.connect(self.url, **self._kwargs), _sql("listen")
                )
            listener = self._listener
        listener.listening.wait(max(0.0, min(deadline - time.monotonic(), self._timeout)))
        return listener


def _finish_statement(outcomes: Sequence[Outcome]) -> tuple[str, dict[str, Any]]:
    """The statement that stores `outcomes`: a batch of plain successes (the
    usual one) takes a lighter one than a batch with retries or failures."""
    ids, attempts = [o.job_id for o in outcomes], [o.attempt for o in outcomes]
    if all(_plain_success(o) for o in outcomes):
        results = [o.result for o in outcomes]
        return _sql("finish_succeeded"), {"id": ids, "attempt": attempts, "result": results}
    return _sql("finish"), {
        "id": ids,
        "attempt": attempts,
        "state": [o.state.value for o in outcomes],
        "delay": [float(o.delay) for o in outcomes],
        "result": [o.result for o in outcomes],
        "reason": [o.reason for o in outcomes],
        "error": [error_json(o.error) for o in outcomes],
        "refund": [o.refund for o in outcomes],
    }


def _configure(conn: Connection) -> None:
    _register_loaders(conn.adapters)
    conn.execute(_sql("configure_session"))


def _quiet_pool_logging() -> None:
    """psycopg_pool logs each checkout at INFO (two lines per query under a
    worker logging at INFO) and each connection a restart closed at WARNING;
    the store's own errors say what went wrong, in one line. Left alone if
    the application set a level."""
    logger = logging.getLogger("psycopg.pool")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)


def _insert_one_params(job: NewJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "payload": job.payload,
        "priority": job.priority,
        "max_attempts": job.max_attempts,
        "timeout": None if job.timeout is None else float(job.timeout),
        "key": job.key,
        "at": None if job.at is None else float(job.at),
        "delay": float(job.delay),
    }


def _insert_params(jobs: Sequence[NewJob]) -> dict[str, builtins.list[Any]]:
    return {
        "id": [job.id for job in jobs],
        "task": [job.task for job in jobs],
        "queue": [job.queue for job in jobs],
        "payload": [job.payload for job in jobs],
        "priority": [job.priority for job in jobs],
        "max_attempts": [job.max_attempts for job in jobs],
        "timeout": [None if job.timeout is None else float(job.timeout) for job in jobs],
        "key": [job.key for job in jobs],
        "at": [None if job.at is None else float(job.at) for job in jobs],
        "delay": [float(job.delay) for job in jobs],
    }


def _settle(
    jobs: builtins.list[NewJob], rows: builtins.list[JobRow], found: dict[str, JobRow]
) -> builtins.list[NewJob]:
    """Record in `found` the row each job stands for: its own (inserted now,
    or stored before under its id), or the active job holding its key. Returns
    the jobs with none (their key's holder finished, or a row with their id
    committed, while the insert ran): the caller inserts them again."""
    ids = {job.id for job in jobs}
    holders: dict[str, JobRow] = {}
    for row in rows:
        if row[_ID] in ids:
            found[row[_ID]] = row
        elif row[_KEY] is not None:
            holders.setdefault(row[_KEY], row)
    # A job of this batch that is active holds its key, whatever the snapshot
    # showed (one stored before under its id may have finished: it holds none).
    holders.update(
        {row[_KEY]: row for row in rows if row[_ID] in ids and row[_KEY] and _active(row)}
    )
    unsettled = []
    for job in jobs:
        if job.id in found:
            continue
        holder = holders.get(job.key) if job.key is not None else None
        if holder is None:
            unsettled.append(job)
        else:
            found[job.id] = holder
    return unsettled
