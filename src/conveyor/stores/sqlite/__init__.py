"""The embedded default store: one SQLite file, safe for several processes.

WAL mode lets readers run beside the one writer; every write is a short
``BEGIN IMMEDIATE`` transaction, so two workers never claim the same job. The
host clock is the store's clock: every process on the machine shares it.
Each thread gets its own connection (sqlite3 connections are not shared).
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conveyor.errors import StoreError
from conveyor.job import JobRecord, JobState, NewJob, Outcome
from conveyor.stores._admission import Run, admit_with, release_with
from conveyor.stores._records import error_json, record_from_row
from conveyor.stores._sql import migrations, purge_in_batches, query
from conveyor.stores.base import (
    Capabilities,
    ConcurrencyLimit,
    Lease,
    QueueStats,
    RateLimit,
    WorkerInfo,
)

_SQL = __name__
_SYNCHRONOUS = {"off", "normal", "full", "extra"}
#: Levels at which each commit syncs the WAL; a worker's soft transactions
#: relax them to ``normal`` (see `SqliteStore._write`).
_SYNCED_COMMITS = {"full", "extra"}


def _statements(script: str) -> Iterator[str]:
    """The statements of a script one by one (`sqlite3` runs one per call,
    and ``executescript`` would commit the caller's transaction first)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""


#: The states conveyor_jobs_dead_cancelled holds (migration 0005).
_DEAD_CANCELLED = frozenset({JobState.DEAD.value, JobState.CANCELLED.value})


def _dead_or_cancelled(states: Collection[str]) -> bool:
    """Whether a filter on these state values is served by
    conveyor_jobs_dead_cancelled: the rare end states, read off their own
    index instead of walking every job."""
    return bool(states) and _DEAD_CANCELLED.issuperset(states)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


def _claim_order(row: dict[str, Any]) -> tuple[int, float, int]:
    return (-row["priority"], row["run_at"], row["seq"])


def _apply(conn: sqlite3.Connection, outcomes: Sequence[Outcome], now: float) -> int:
    """Store outcomes inside the caller's write transaction; how many applied."""
    cursor = conn.executemany(
        query(_SQL, "finish"),
        [
            {
                "id": outcome.job_id,
                "attempt": outcome.attempt,
                "state": outcome.state.value,
                "refund": outcome.refund,
                "now": now,
                "delay": outcome.delay,
                "result": outcome.result,
                "reason": outcome.reason,
                "error": error_json(outcome.error),
            }
            for outcome in outcomes
        ],
    )
    return cursor.rowcount


def _runner(conn: sqlite3.Connection) -> Run:
    """Named statements on `conn`, for the shared admission steps."""

    def run(name: str, params: Any) -> builtins.list[dict[str, Any]]:
        return conn.execute(query(_SQL, name), params).fetchall()

    return run


def path_from_url(url: str) -> str:
    """``sqlite:///abs/path.db`` is absolute, ``sqlite://rel.db`` relative to the cwd."""
    parts = urlsplit(url)
    return (parts.netloc + parts.path) or "conveyor.db"


class SqliteStore:
    """Jobs in one SQLite file. At the default ``synchronous=full`` what the app
    writes survives power loss once written; a worker's claims, outcomes and
    admissions commit at normal (a power loss may undo the last of them:
    those jobs run again). ``?synchronous=normal`` makes every commit so; no
    level loses a commit on a process crash."""

    capabilities = Capabilities(shared=True, transactional_enqueue=True)

    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.path = path_from_url(url)
        options = parse_qs(urlsplit(url).query)
        self._synchronous = options.get("synchronous", ["full"])[0].lower()
        if self._synchronous not in _SYNCHRONOUS:
            raise StoreError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}")
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = threading.Lock()
        self._migrate()

    # -- connections -----------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.row_factory = _dict_row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA foreign_keys = OFF")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        with self._lock:
            self._connections.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            self._local.level = self._synchronous
        return conn

    @contextmanager
    def _write(self, *, soft: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction, for this thread's connection.

        The threads of one process (a worker's claimer, acker, upkeep) take
        turns on `_writer` first: a lock passes to the next thread the moment
        it is free, where SQLite's busy handler sleeps a millisecond or more
        between tries. That sleeping cost a third of a worker's drain rate.
        A `soft` transaction (a worker's claims, outcomes and admissions)
        commits at ``synchronous=normal`` (see "SQLite durability" in
        docs/architecture.md)."""
        with self._turn(soft=soft) as conn, self._transaction(conn):
            yield conn

    @contextmanager
    def _turn(self, *, soft: bool = False) -> Iterator[sqlite3.Connection]:
        """This thread's connection, holding `_writer`, its commit level set:
        a write on it is a transaction (`_write`) or a lone statement."""
        conn = self._conn()
        with self._writer:
            self._commit_level(conn, soft)
            yield conn

    def _commit_level(self, conn: sqlite3.Connection, soft: bool) -> None:
        """The level this thread's next commit syncs at: ``normal`` for a soft
        transaction where the store's level syncs every commit (the next
        synced commit, an enqueue, syncs the soft ones before it with it),
        else the store's. Set only when it changes: a worker's claimer and
        acker threads, whose writes are all soft, set it once."""
        level = "normal" if soft and self._synchronous in _SYNCED_COMMITS else self._synchronous
        if self._local.level != level:
            conn.execute(f"PRAGMA synchronous = {level}")
            self._local.level = level

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, doing: str = "write to") -> Iterator[None]:
        """``BEGIN IMMEDIATE`` takes the write lock up front, so a claim never
        upgrades from a read and deadlocks with another; SQLite errors become
        `StoreError`s saying what could not be done."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {doing} SQLite database {self.path!r}: {exc}") from exc
        try:
            yield
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"cannot {doing} SQLite database {self.path!r}: {exc}") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"cannot commit to SQLite {self.path!r}: {exc}") from exc

    def _read(self, name: str, **params: Any) -> builtins.list[dict[str, Any]]:
        try:
            return self._conn().execute(query(_SQL, name), params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read SQLite database {self.path!r}: {exc}") from exc

    def _migrate(self) -> None:
        """Each migration in one transaction that reads the schema version
        again under the write lock: another process may have applied it
        meanwhile, and a step such as ``ADD COLUMN`` cannot run twice."""
        conn = self._conn()
        current = conn.execute("PRAGMA user_version").fetchone()["user_version"]
        for version, script in migrations(_SQL):
            if version <= current:
                continue
            with self._writer, self._transaction(conn, doing="set up"):
                if conn.execute("PRAGMA user_version").fetchone()["user_version"] < version:
                    for statement in _statements(script):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version}")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- the protocol ----------------------------------------------------

    def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> builtins.list[JobRecord]:
        if connection is None:
            if len(jobs) == 1 and jobs[0].key is None:
                record = self._insert_alone(jobs[0])
                if record is not None:
                    return [record]
            with self._write() as conn:
                return self._insert(conn.cursor(), jobs)
        if not isinstance(connection, sqlite3.Connection):
            raise StoreError(
                f"the SQLite store enqueues in a sqlite3.Connection's transaction, "
                f"not a {type(connection).__name__}"
            )
        cursor = connection.cursor()
        cursor.row_factory = _dict_row
        try:
            return self._insert(cursor, jobs)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot enqueue in the caller's transaction: {exc}") from exc

    def _insert_alone(self, job: NewJob) -> JobRecord | None:
        """One job without a key is one statement, atomic on its own: its
        implicit transaction spares the ``BEGIN`` and ``COMMIT`` statements,
        17 to 24 µs of a 170 to 180 µs enqueue. A write statement takes the
        write lock as it starts, as ``BEGIN IMMEDIATE`` would. None when the
        id is stored already: the caller reads that job in a transaction."""
        with self._turn() as conn:
            now = time.time()
            try:
                cursor = conn.execute(query(_SQL, "insert_job"), _insert_params(job, now))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to SQLite database {self.path!r}: {exc}") from exc
        return job.inserted(now) if cursor.rowcount == 1 else None

    def _insert(self, cursor: sqlite3.Cursor, jobs: Sequence[NewJob]) -> builtins.list[JobRecord]:
        insert, by_key, get = (
            query(_SQL, "insert_job"),
            query(_SQL, "find_active_by_key"),
            query(_SQL, "get_job"),
        )
        records = []
        now = time.time()
        for job in jobs:
            if job.key is not None:
                existing = cursor.execute(by_key, {"key": job.key}).fetchone()
                if existing is not None:
                    records.append(record_from_row(existing))
                    continue
            cursor.execute(insert, _insert_params(job, now))
            if cursor.rowcount == 1:  # inserted: what it holds is known, not read back
                records.append(job.inserted(now))
            else:  # the id was stored already: that job is the answer
                records.append(record_from_row(cursor.execute(get, {"id": job.id}).fetchone()))
        return records

    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float
    ) -> builtins.list[JobRecord]:
        if limit <= 0 or not queues:
            return []
        with self._write(soft=True) as conn:
            now = time.time()
            paused = {row["queue"] for row in conn.execute(query(_SQL, "paused"))}
            conn.execute(query(_SQL, "stage_due"), {"now": now})
            candidates = [
                row
                for name in dict.fromkeys(queues)
                if name not in paused
                for row in conn.execute(
                    query(_SQL, "claim_candidates"), {"queue": name, "limit": limit}
                )
            ]
            if not candidates:
                return []
            candidates.sort(key=_claim_order)
            chosen = [row["seq"] for row in candidates[:limit]]
            rows = conn.execute(
                query(_SQL, "claim"),
                {"now": now, "lease": lease, "worker": worker, "seqs": json.dumps(chosen)},
            ).fetchall()
        # RETURNING does not keep the subquery's order.
        rows.sort(key=_claim_order)
        return [record_from_row(row) for row in rows]

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float
    ) -> builtins.list[str]:
        with self._write() as conn:
            now = time.time()
            conn.execute(
                query(_SQL, "upsert_worker"),
                {
                    "id": worker.id,
                    "hostname": worker.hostname,
                    "pid": worker.pid,
                    "queues": json.dumps(list(worker.queues)),
                    "concurrency": worker.concurrency,
                    "started_at": worker.started_at,
                    "now": now,
                },
            )
            extend = query(_SQL, "extend_lease")
            return [
                held.job_id
                for held in leases
                if conn.execute(
                    extend, {"id": held.job_id, "attempt": held.attempt, "now": now, "lease": lease}
                ).rowcount
                == 0
            ]

    def admit(
        self,
        lease: Lease,
        *,
        rate: RateLimit | None = None,
        concurrency: ConcurrencyLimit | None = None,
    ) -> float | None:
        """A soft commit, as PostgreSQL's: a power loss may undo an admission
        (a slot given twice, a put-back job left to its lease)."""
        with self._write(soft=True) as conn:
            decided = time.time()
            wait = admit_with(_runner(conn), decided, lease, rate, concurrency)
        # The wait counts from this return: the commit's time is spent.
        return None if wait is None else max(0.0, decided + wait - time.time())

    def release(self, limit: ConcurrencyLimit) -> int:
        with self._write(soft=True) as conn:
            return release_with(_runner(conn), time.time(), limit)

    def finish(self, outcomes: Sequence[Outcome]) -> int:
        if not outcomes:
            return 0
        with self._write(soft=True) as conn:
            return _apply(conn, outcomes, time.time())

    def maintain(self) -> None:
        """Nothing to tidy: SQLite reuses freed pages and checkpoints its WAL itself."""

    def recover(self) -> int:
        with self._write() as conn:
            now = {"now": time.time()}
            dead = conn.execute(query(_SQL, "recover_dead"), now).rowcount
            requeued = conn.execute(query(_SQL, "recover_requeue"), now).rowcount
        return dead + requeued

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._read("get_job", id=job_id)
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
        values = [s.value for s in states]
        rows = self._read(
            "list_dead_cancelled" if _dead_or_cancelled(values) else "list_jobs",
            all_states=not states,
            states=json.dumps(values),
            queue=queue,
            task=task,
            limit=limit,
            offset=offset,
        )
        return [record_from_row(row) for row in rows]

    def counts(self) -> builtins.list[QueueStats]:
        now = time.time()
        conn = self._conn()
        counts: dict[str, dict[JobState, int]] = {}
        oldest: dict[str, float] = {}
        finished: dict[str, int] = {}
        try:
            conn.execute("BEGIN")  # one snapshot for the three reads
            for row in conn.execute(query(_SQL, "count_by_state")):
                counts.setdefault(row["queue"], {})[JobState(row["state"])] = row["n"]
            for row in conn.execute(query(_SQL, "oldest_queued")):
                oldest[row["queue"]] = max(0.0, now - row["oldest"])
            for row in conn.execute(query(_SQL, "finished_since"), {"since": now - 60}):
                finished[row["queue"]] = row["n"]
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot read SQLite database {self.path!r}: {exc}") from exc
        return [
            QueueStats(
                queue=name,
                counts=counts[name],
                oldest_wait=oldest.get(name, 0.0),
                finished_last_minute=finished.get(name, 0),
            )
            for name in sorted(counts)
        ]

    def workers(self, ttl: float) -> builtins.list[WorkerInfo]:
        return [
            WorkerInfo(
                id=row["id"],
                hostname=row["hostname"],
                pid=row["pid"],
                queues=tuple(json.loads(row["queues"])),
                concurrency=row["concurrency"],
                started_at=row["started_at"],
                last_seen=row["last_seen"],
            )
            for row in self._read("live_workers", since=time.time() - ttl)
        ]

    def unregister_worker(self, worker_id: str) -> None:
        with self._write() as conn:
            # Also forget workers silent for a day: killed ones never unregister.
            conn.execute(
                query(_SQL, "delete_worker"),
                {"id": worker_id, "forget_before": time.time() - 86400},
            )

    def cancel(self, job_id: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute(query(_SQL, "cancel"), {"id": job_id, "now": time.time()})
            return cursor.rowcount == 1

    def pause(self, queue: str) -> None:
        with self._write() as conn:
            conn.execute(query(_SQL, "pause"), {"queue": queue})

    def resume(self, queue: str) -> None:
        with self._write() as conn:
            conn.execute(query(_SQL, "resume"), {"queue": queue})

    def paused(self) -> builtins.set[str]:
        return {row["queue"] for row in self._read("paused")}

    def fired(self, schedules: Sequence[str]) -> dict[str, float]:
        rows = self._read("fired", names=json.dumps(list(schedules)))
        return {row["name"]: row["last_fire"] for row in rows}

    def mark_fired(self, schedule: str, fire_at: float) -> None:
        with self._write() as conn:
            conn.execute(query(_SQL, "mark_fired"), {"name": schedule, "at": fire_at})

    def requeue_dead(self, job_ids: Sequence[str]) -> int:
        with self._write() as conn:
            now = time.time()
            cursor = conn.executemany(
                query(_SQL, "requeue_dead"), [{"id": job_id, "now": now} for job_id in job_ids]
            )
            return cursor.rowcount

    def purge(
        self,
        states: Collection[JobState],
        *,
        queue: str | None = None,
        older_than: float | None = None,
        limit: int | None = None,
    ) -> int:
        """In short transactions of `PURGE_BATCH` rows (see `purge_in_batches`):
        workers' writes go on between them."""
        total = purge_in_batches(
            self._delete, states, queue=queue, older_than=older_than, limit=limit
        )
        if total:
            with self._write() as conn:
                conn.execute(query(_SQL, "prune_limits"))
        return total

    def _delete(self, name: str, params: dict[str, Any]) -> int:
        with self._write() as conn:
            if name == "purge":
                if _dead_or_cancelled(params["states"]):
                    name = "purge_dead_cancelled"
                params = {**params, "states": json.dumps(params["states"])}
            return conn.execute(query(_SQL, name), {**params, "now": time.time()}).rowcount

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Poll ``PRAGMA data_version`` (it changes when any other connection
        commits: a read of shared memory, no disk I/O) and wake for the next
        scheduled job's time."""
        conn = self._conn()
        deadline = time.monotonic() + timeout
        try:
            version = conn.execute("PRAGMA data_version").fetchone()["data_version"]
            next_due = conn.execute(query(_SQL, "next_due")).fetchone()
            due_at = next(iter(next_due.values())) if next_due else None
            if due_at is not None:
                deadline = min(deadline, time.monotonic() + max(0.0, due_at - time.time()))
            while (remaining := deadline - time.monotonic()) > 0:
                time.sleep(min(0.01, remaining))
                if conn.execute("PRAGMA data_version").fetchone()["data_version"] != version:
                    return
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read SQLite database {self.path!r}: {exc}") from exc


def _insert_params(job: NewJob, now: float) -> tuple[Any, ...]:
    """insert_job.sql's parameters for `job`, enqueued at `now`, in its column order."""
    return (
        job.id, job.task, job.queue, job.payload, job.initial_state(now).value,
        job.priority, job.max_attempts, job.run_at(now), now, job.timeout, job.key,
    )  # fmt: skip
