"""The Redis store: every multi-key step is one Lua script, run with EVALSHA.

Key layout (``P`` is the prefix, ``conveyor`` unless the URL says
``?prefix=...``; ``{P}`` is the hash tag every key starts with)::

    {P}:job:<id>           hash    one job: the fields of JobRecord (None is an
                                   absent field), plus ``seq`` and ``rank``
    {P}:seq                string  enqueue sequence (INCRBY per batch)
    {P}:queues             set     names of the queues that hold jobs
    {P}:keys               hash    unique key -> id of the active job holding it
    {P}:running            zset    id -> lease expiry: every running job
    {P}:scheduled          zset    id -> run_at: every scheduled job (staging)
    {P}:workers            hash    worker id -> its WorkerInfo as JSON
    {P}:workers:seen       zset    worker id -> last heartbeat
    {P}:q:<queue>:ready     zset   queued jobs: score -priority, member
                                   ``<run_at µs:16><seq:16><id>`` (the ``rank``)
    {P}:q:<queue>:scheduled zset   id -> run_at: the queue's scheduled jobs
    {P}:q:<queue>:succeeded zset   id -> finished_at (also ``dead``, ``cancelled``)
    {P}:q:<queue>:jobs      zset   id -> seq: every job of the queue, for
                                   newest-first listing
    {P}:q:<queue>:wake      list   wake-up tokens, at most 16

Decisions:

- **One hash tag per store, not per queue.** Every key shares ``{P}``, so
  each script's keys lie in one slot and the store runs on Redis Cluster.
  Tagging each queue apart would spread queues over shards, but unique keys
  (store-wide, as on the other stores), a batch enqueued into several queues,
  a claim over several queues, a worker's finish batch and a blocking wait on
  several queues would then each cross slots and stop being atomic. Stores
  are spread over shards by prefix instead (one prefix per app).
- **Lean calls.** A script carries only the definitions of ``_lib.lua`` it
  uses (Redis runs a script's whole text on every call), and `_run` sends
  EVALSHA packed by hiredis on connections the store keeps itself, past
  redis-py's per-call layers: a single enqueue is one round trip whose
  client side is mostly the socket.
- **Keys a script declares and keys it builds.** ``KEYS`` names the
  store-wide keys a script touches (and routes it on Cluster); job and queue
  keys are built inside the script from the ids and queue names it is given
  or reads (a job's queue is in its hash), all under the same tag, which
  the store writes into its scripts. So ``get(job_id)`` is one HMGET of
  ``{P}:job:<id>``, and ``finish`` needs no queue from the caller.
- **Claim order in one ZRANGE.** A double holds integers to 2**53 exactly, too
  few bits for priority, time and sequence together, so the score is the
  priority alone and equal scores sort by member: run_at to the microsecond,
  then the enqueue sequence, then the id. A claim over several queues merges
  the heads of their ready zsets inside the script. Before choosing, a claim
  moves due jobs of every queue from ``{P}:scheduled`` to their ready zsets,
  as the other stores stage every queue's due jobs.
- **The clock is Redis TIME**, read inside each script; callers send delays.
- **Leases** live in ``{P}:running`` scored by expiry, so ``recover`` reads
  the expired ones off its head. An attempt fences every outcome and
  heartbeat, as on the other stores.
- **Wake-ups.** Scripts that make work due (enqueue, retry, hand-back,
  recovery, replay) push a token onto the queue's wake list while it holds
  fewer than 16 (they read its length first: while no worker is idle it
  stays full, and a read costs a script less than a write); `wait` blocks
  in BLPOP on its queues' lists (on a connection pool of its own, so it
  never holds a command connection) until a token comes or the next
  scheduled job of its queues is due. A token wakes one worker.
- **Errors.** Every Redis exception becomes `StoreError` with one line;
  commands are not retried here (the worker retries with backoff), and a
  broken connection is replaced on the next call. The one exception is a
  Cluster's ``MOVED`` reply, which says the command did not run: the store
  follows it to the node that serves its slot and sends the command there.
- **Redis Cluster.** The store's keys all lie in one slot, so it talks to
  one node at a time: the one serving that slot. It asks the URL's node at
  open (``CLUSTER SLOTS``), follows ``MOVED`` when the slot moves (a
  resharding, a failover the old node saw), and asks the other nodes when
  its node stops answering (a failover after a crash).
- **Durability** is Redis's: without AOF, a restart loses what was not yet
  snapshotted; ``maxmemory-policy`` other than ``noeviction`` lets Redis
  evict jobs, and the store warns about it at open.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import operator
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import MovedError, NoScriptError
from redis.retry import Retry

from conveyor.errors import StoreError
from conveyor.job import JobRecord, JobState, NewJob, Outcome
from conveyor.stores import redact
from conveyor.stores._lua import script
from conveyor.stores._records import JOB_COLUMNS, error_json, parse_errors
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

log = logging.getLogger("conveyor.stores.redis")

T = TypeVar("T")

_SCRIPTS = (
    "enqueue", "claim", "finish", "heartbeat", "recover", "cancel", "requeue_dead",
    "purge", "counts", "list", "workers", "unregister_worker", "admit", "release",
    "mark_fired",
)  # fmt: skip

#: Jobs deleted, leases recovered or dead jobs replayed per script call: each
#: call stays short, and the store calls again until the work is done.
_BATCH = 1000
#: The longest one BLPOP blocks; `wait` may return early, callers wait again.
_WAIT_CAP = 5.0
#: Workers silent this long are forgotten when any worker unregisters.
_FORGET_WORKERS_AFTER = 86400.0
_STATES = (
    JobState.SCHEDULED, JobState.QUEUED, JobState.RUNNING,
    JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED,
)  # fmt: skip

_STATE_OF = {state.value: state for state in JobState}
_PREFIX = re.compile(r"[A-Za-z0-9_.:-]+")
#: Seconds a reply may take: one script may enqueue or purge thousands of
#: jobs. A server that vanishes without closing the socket shows in this time.
_SOCKET_TIMEOUT = 20.0
#: Seconds opening a connection may take, TLS handshake included (redis-py
#: gives the handshake the reply timeout: the store's check at open does not).
_CONNECT_TIMEOUT = 5.0

#: Seconds to reach another Cluster node when the store's node stopped answering.
_DISCOVER_TIMEOUT = 1.0

#: (server, policy) pairs already warned about, so each process warns once.
_warned: set[tuple[str, str]] = set()

_pack_command: Callable[[tuple[Any, ...]], bytes] | None
try:  # hiredis packs a whole command in C; redis-py checks every argument in Python
    from hiredis import pack_command as _pack_command
except ImportError:  # pragma: no cover (hiredis is in the redis extra; older ones lack it)
    _pack_command = None


class _KeysOf(dict[str, str]):
    """Full key names by short name (``running`` -> ``{P}:running``), each
    built once."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def __missing__(self, name: str) -> str:
        self[name] = key = f"{self.tag}:{name}"
        return key


def _time(raw: str | None) -> float | None:
    return None if raw is None else float(raw)


def _record(row: Sequence[Any]) -> JobRecord:
    """A record from a job hash read in `JOB_COLUMNS` order (None: absent).

    Positional rather than through `record_from_row`: claims decode every
    record they return, and a dict per record doubled the cost."""
    (job_id, task, queue, payload, state, priority, attempt, max_attempts, run_at, created_at,
     timeout, key, started_at, finished_at, lease_expires_at, worker, result, reason,
     errors) = row  # fmt: skip
    return JobRecord(
        id=job_id,
        task=task,
        queue=queue,
        payload=payload,
        state=_STATE_OF[state],
        priority=int(priority),
        attempt=int(attempt),
        max_attempts=int(max_attempts),
        run_at=float(run_at),
        created_at=float(created_at),
        timeout=_time(timeout),
        key=key,
        started_at=_time(started_at),
        finished_at=_time(finished_at),
        lease_expires_at=_time(lease_expires_at),
        worker=worker,
        result=result,
        reason=reason,
        errors=parse_errors(errors),
    )


_FINISH_KEYS = ("running", "keys", "scheduled")


def _finish_args(outcomes: Sequence[Outcome]) -> builtins.list[Any]:
    """finish.lua's arguments: eight per outcome."""
    args: builtins.list[Any] = []
    for outcome in outcomes:
        args += (
            outcome.job_id, outcome.attempt, outcome.state.value, outcome.delay,
            outcome.result or "", "" if outcome.reason is None else str(outcome.reason),
            error_json(outcome.error) or "", "1" if outcome.refund else "",
        )  # fmt: skip
    return args


#: What the jobs of one run of an enqueue share (see enqueue.lua).
_shared_options = operator.attrgetter(
    "task", "queue", "priority", "max_attempts", "timeout", "delay", "at"
)


def _optional(value: str | None) -> str:
    """An optional string that may be empty, as the scripts read it."""
    return "" if value is None else "=" + value


def _split_prefix(url: str) -> tuple[str, str]:
    """The URL for redis-py (without ``prefix``) and the store's key prefix."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    prefix = prefixes[-1] if prefixes else "conveyor"
    if not _PREFIX.fullmatch(prefix):
        raise StoreError(f"prefix must be letters, digits and _.:- only, not {prefix!r}")
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def _at_node(url: str, host: str, port: int) -> str:
    """`url` with its host and port replaced: the same credentials, TLS and
    options, for another node of the Cluster."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    node = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{node}" if userinfo else node))


Node = tuple[str, int]


def _slot_map(reply: Any, slot: int, asked: str) -> tuple[Node | None, builtins.list[Node]]:
    """From a ``CLUSTER SLOTS`` reply of the node at host `asked`: the primary
    serving `slot`, and every node named (primaries and replicas), to ask if
    that one stops answering. A node that does not know its own address is
    named by an empty host: the one asked."""
    owner, nodes = None, []
    for first, last, *members in reply:
        addresses = [(str(member[0]) or asked, int(member[1])) for member in members]
        nodes += addresses
        if first <= slot <= last and addresses:
            owner = addresses[0]
    return owner, builtins.list(dict.fromkeys(nodes))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedisStore:
    """Jobs in Redis (``redis://`` or ``rediss://``), shared by every process
    and machine that reaches the server. Thread-safe: one client, one pool."""

    capabilities = Capabilities(shared=True, transactional_enqueue=False)

    def __init__(self, url: str) -> None:
        self.url = url
        self._where = redact(url)
        client_url, prefix = _split_prefix(url)
        self._tag = "{" + prefix + "}"
        # No retries inside redis-py: a script whose reply was lost may have
        # run, so the caller decides (the worker retries with backoff).
        options: dict[str, Any] = {
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": _CONNECT_TIMEOUT,
            "socket_timeout": _SOCKET_TIMEOUT,
        }
        self._client_url, self._options = client_url, options
        #: On a Cluster: the node serving the store's slot, and the nodes to
        #: ask which one does when it stops answering. None and [] otherwise.
        self._node: Node | None = None
        self._nodes: builtins.list[Node] = []
        self._node_lock = threading.Lock()
        try:
            self._connect(client_url)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"bad Redis URL {self._where!r}: {exc}") from exc
        #: name -> (sha1, source): run by EVALSHA, loaded when Redis lacks it.
        self._scripts: dict[str, tuple[str, str]] = {}
        for name in _SCRIPTS:
            source = _source(name, self._tag)
            self._scripts[name] = (hashlib.sha1(source.encode()).hexdigest(), source)
        #: Store-wide key names the scripts declare, by short name.
        self._keys = _KeysOf(self._tag)
        self._pid = os.getpid()
        # On a connection of its own whose replies (and TLS handshake) may
        # take only the connect timeout: a wrong port or a server that speaks
        # no TLS is one error within seconds, not after the reply timeout.
        probe = redis.Redis.from_url(client_url, **{**options, "socket_timeout": _CONNECT_TIMEOUT})
        try:
            self._check_server(probe)
            self._find_slot(probe)
        finally:
            probe.close()

    # -- plumbing ----------------------------------------------------------

    def _connect(self, url: str) -> None:
        """The store's clients, all on the server (or Cluster node) at `url`."""
        self._client = redis.Redis.from_url(url, **self._options)
        # Blocking waits get connections of their own, with a read timeout
        # longer than the longest wait.
        self._waiter = redis.Redis(
            connection_pool=redis.ConnectionPool.from_url(
                url, **{**self._options, "socket_timeout": _WAIT_CAP + 5.0}
            )
        )
        self._pool = self._client.connection_pool
        #: Connections `_run` uses, idle ones last; see `_checkout`.
        self._idle: builtins.list[Any] = []

    def _find_slot(self, probe: redis.Redis) -> None:
        """On a Cluster, move to the node that serves the store's slot: the
        URL may name any node. A server without Cluster support says so."""
        try:
            reply = probe.cluster("SLOTS")
        except redis.ResponseError:
            return  # not a Cluster (or CLUSTER not allowed: MOVED is still followed)
        except (redis.RedisError, OSError) as exc:
            raise StoreError(f"cannot open Redis at {self._where}: {_one_line(exc)}") from exc
        url = urlsplit(self._client_url)
        owner, self._nodes = _slot_map(reply, key_slot(self._tag.encode()), url.hostname or "")
        if owner is None:
            raise StoreError(f"Redis Cluster at {self._where}: no node serves the store's slot")
        if owner == (url.hostname, url.port or 6379):
            self._node = owner
        else:
            self._move_to(owner)
            self._check_server(self._client)

    def _follow(self, moved: MovedError) -> None:
        """Point the store at the Cluster node a MOVED reply names."""
        self._move_to((moved.host, int(moved.port)))

    def _rediscover(self) -> None:
        """The store's Cluster node stopped answering, and may have failed
        over: ask the other nodes which one serves the slot now. Best effort,
        as the call that failed is an error anyway; the next call retries."""
        slot = key_slot(self._tag.encode())
        for host, port in self._nodes:
            if (host, port) == self._node:
                continue
            url = _at_node(self._client_url, host, port)
            options = {**self._options, "socket_timeout": _DISCOVER_TIMEOUT}
            options["socket_connect_timeout"] = _DISCOVER_TIMEOUT
            other = redis.Redis.from_url(url, **options)
            try:
                reply = other.cluster("SLOTS")
            except (redis.RedisError, OSError):
                continue
            finally:
                other.close()
            owner, nodes = _slot_map(reply, slot, host)
            self._nodes = builtins.list(dict.fromkeys(self._nodes + nodes))
            if owner is not None:
                self._move_to(owner)
            return

    def _move_to(self, node: Node) -> None:
        """Point the store at another Cluster node. The old node's connections
        are closed as they come back (see `_checkout`); a wait blocked there
        is answered MOVED too, and follows."""
        with self._node_lock:
            if self._node == node:
                return  # another thread followed it already
            old = (self._client, self._waiter, self._idle)
            self._node = node
            self._connect(_at_node(self._client_url, *node))
        client, waiter, idle = old
        for pool in (client.connection_pool, waiter.connection_pool):
            pool.disconnect(inuse_connections=False)
        for conn in idle:
            conn.disconnect()
        log.info("Redis at %s: the store's slot is served by %s:%s", self._where, *node)

    def _direct(self, doing: str, command: Callable[[], T]) -> T:
        """A command through redis-py's client (which `command` reads from the
        store when called), sent again once if a Cluster moved the slot."""
        try:
            try:
                return command()
            except MovedError as moved:
                self._follow(moved)
                return command()
        except (redis.RedisError, OSError) as exc:
            raise self._failed(doing, exc) from exc

    def _failed(self, doing: str, exc: Exception) -> StoreError:
        """The one-line error for a failed call; on a Cluster whose node did
        not answer, the store first looks for the node serving its slot now."""
        if self._nodes and not isinstance(exc, redis.ResponseError):
            self._rediscover()
        return StoreError(f"Redis at {self._where}: {doing} failed: {_one_line(exc)}")

    def _key(self, name: str) -> str:
        return f"{self._tag}:{name}"

    def _queue_key(self, queue: str, part: str) -> str:
        return f"{self._tag}:q:{queue}:{part}"

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """EVALSHA on one of the store's connections, sent and read directly.

        Not through `redis.Redis` and its `Script`: their per-call layers
        (argument checks, retry wrapper, instrumentation) cost about 15 µs a
        call here, a third of the client's own time around the socket. A
        connection whose call failed other than by an error reply is closed
        (a reply may be left unread) and reconnects on its next call. Errors
        are converted here rather than by `_direct`, whose closure costs a
        little on every call. A MOVED reply (the script did not run) is
        followed once, as in `_direct`."""
        sha, source = self._scripts[name]
        command = ("EVALSHA", sha, len(keys), *[self._keys[key] for key in keys], *args)
        try:
            try:
                return self._evalsha(command, source)
            except MovedError as moved:
                self._follow(moved)
                return self._evalsha(command, source)
        except (redis.RedisError, OSError) as exc:
            raise self._failed(name.replace("_", " "), exc) from exc

    def _evalsha(self, command: tuple[Any, ...], source: str) -> Any:
        conn = self._checkout()
        clean = False
        try:
            try:
                result = self._call(conn, command)
            except NoScriptError:
                # A restarted or flushed Redis forgot it: load it, then run it.
                self._call(conn, ("SCRIPT", "LOAD", source))
                result = self._call(conn, command)
            clean = True
            return result
        except redis.ResponseError:
            clean = True  # an error reply, read in full
            raise
        finally:
            if not clean:
                conn.disconnect()
            self._idle.append(conn)

    def _checkout(self) -> Any:
        """An idle connection of the store's own, made by its pool but kept
        off the pool's books: a pool checkout and release (locking, metrics)
        cost more than the rest of the store's Python in a single enqueue."""
        if self._pid != os.getpid():  # forked: the parent's sockets are not ours
            self._idle, self._pid = [], os.getpid()
        try:
            conn = self._idle.pop()
        except IndexError:
            return self._pool.make_connection()
        if self._node is not None and (conn.host, conn.port) != self._node:
            conn.disconnect()  # to a node the store's Cluster slot moved away from
            return self._pool.make_connection()
        try:
            if conn.can_read():  # closed by the server meanwhile
                conn.disconnect()
        except redis.ConnectionError:
            pass  # can_read closed it: the next send reconnects
        return conn

    @staticmethod
    def _call(conn: Any, command: tuple[Any, ...]) -> Any:
        pack = _pack_command
        packed = [pack(command)] if pack is not None else conn.pack_command(*command)
        conn.send_packed_command(packed)
        return conn.read_response()

    def _check_server(self, client: redis.Redis) -> None:
        """Fail now if the server cannot be reached; warn if Redis may evict
        jobs under memory pressure, and note whether it keeps an AOF."""
        try:
            settings = {}
            for name in ("maxmemory-policy", "appendonly"):
                settings.update(client.config_get(name))
        except redis.ResponseError:  # CONFIG disabled (managed services): just reach it
            self._direct("connect", client.ping)
            return
        except (redis.RedisError, OSError) as exc:
            raise StoreError(f"cannot open Redis at {self._where}: {_one_line(exc)}") from exc
        policy = str(settings.get("maxmemory-policy", "noeviction"))
        if policy != "noeviction" and (self._where, policy) not in _warned:
            _warned.add((self._where, policy))
            log.warning(
                "Redis at %s has maxmemory-policy %s: under memory pressure it may evict "
                "jobs; set it to noeviction",
                self._where, policy,
            )  # fmt: skip
        log.debug(
            "Redis at %s: appendonly %s (without AOF a restart loses writes since the "
            "last snapshot)",
            self._where, settings.get("appendonly", "unknown"),
        )  # fmt: skip

    def close(self) -> None:
        while self._idle:
            self._idle.pop().disconnect()
        self._client.close()
        self._waiter.connection_pool.disconnect()

    # -- the protocol ------------------------------------------------------

    def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> builtins.list[JobRecord]:
        """One script for the batch (all or none). A job id already stored
        returns that job, so a batch whose reply was lost can be sent again."""
        if connection is not None:
            raise StoreError(
                "Redis has no caller transactions to enqueue in: enqueue without connection="
            )
        if not jobs:
            return []
        args: builtins.list[Any] = []
        options, count_at = None, 0
        for job in jobs:
            shared = _shared_options(job)
            if shared != options:  # a new run (see enqueue.lua)
                options = shared
                args += (
                    job.task, job.queue, job.priority, job.max_attempts,
                    "" if job.timeout is None else job.timeout, job.delay,
                    "" if job.at is None else job.at, 0,
                )  # fmt: skip
                count_at = len(args) - 1
            args[count_at] += 1
            args += (job.id, job.payload, _optional(job.key))
        return _enqueued(jobs, self._run("enqueue", ("seq", "queues", "keys", "scheduled"), args))

    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float
    ) -> builtins.list[JobRecord]:
        if limit <= 0 or not queues:
            return []
        rows = self._run(
            "claim", ("running", "scheduled"), (worker, limit, lease, *dict.fromkeys(queues))
        )
        return [_record(row) for row in rows]

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float
    ) -> builtins.list[str]:
        info = json.dumps(
            {
                "hostname": worker.hostname,
                "pid": worker.pid,
                "queues": list(worker.queues),
                "concurrency": worker.concurrency,
                "started_at": worker.started_at,
            }
        )
        args: builtins.list[Any] = [worker.id, info, lease]
        for held in leases:
            args += (held.job_id, held.attempt)
        lost: builtins.list[str] = self._run(
            "heartbeat", ("workers", "workers:seen", "running"), args
        )
        return lost

    def admit(
        self,
        lease: Lease,
        *,
        rate: RateLimit | None = None,
        concurrency: ConcurrencyLimit | None = None,
    ) -> float | None:
        args = (
            lease.job_id, lease.attempt,
            "" if rate is None else rate.bucket, 0 if rate is None else rate.interval,
            "" if concurrency is None else concurrency.bucket,
            0 if concurrency is None else concurrency.limit,
            PARK_SECONDS, ADMIT_WAIT,
        )  # fmt: skip
        wait = self._run("admit", ("running", "scheduled"), args)
        return None if wait is None else float(wait)

    def release(self, limit: ConcurrencyLimit) -> int:
        woken: int = self._run("release", ("scheduled",), (limit.bucket, limit.limit))
        return woken

    def finish(self, outcomes: Sequence[Outcome]) -> int:
        if not outcomes:
            return 0
        applied: int = self._run("finish", _FINISH_KEYS, _finish_args(outcomes))
        return applied

    def maintain(self) -> None:
        """Nothing to tidy: Redis frees what a script deletes at once."""

    def recover(self) -> int:
        """Expired leases in scripts of `_BATCH` each, until none is left."""
        moved = 0
        while True:
            recovered: int
            looked_at: int
            recovered, looked_at = self._run("recover", ("running", "keys"), (_BATCH,))
            moved += recovered
            if looked_at < _BATCH:
                return moved

    def get(self, job_id: str) -> JobRecord | None:
        row = self._direct(
            "get", lambda: self._client.hmget(self._key(f"job:{job_id}"), JOB_COLUMNS)
        )
        return None if row[0] is None else _record(row)

    def list(
        self,
        *,
        states: Collection[JobState] = (),
        queue: str | None = None,
        task: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[JobRecord]:
        filters = (_optional(queue), _optional(task), *(s.value for s in states))
        args = (limit, max(offset, 0), *filters)
        return [_record(row) for row in self._run("list", ("queues", "running"), args)]

    def counts(self) -> builtins.list[QueueStats]:
        stats = []
        for row in self._run("counts", ("queues", "running"), ()):
            queue, numbers, oldest_wait, finished = row[0], row[1:7], row[7], row[8]
            stats.append(
                QueueStats(
                    queue=queue,
                    counts={state: n for state, n in zip(_STATES, numbers, strict=True) if n},
                    oldest_wait=float(oldest_wait),
                    finished_last_minute=finished,
                )
            )
        return sorted(stats, key=lambda entry: entry.queue)

    def workers(self, ttl: float) -> builtins.list[WorkerInfo]:
        found = []
        for worker_id, raw, last_seen in self._run("workers", ("workers", "workers:seen"), (ttl,)):
            info = json.loads(raw)
            found.append(
                WorkerInfo(
                    id=worker_id,
                    hostname=info["hostname"],
                    pid=info["pid"],
                    queues=tuple(info["queues"]),
                    concurrency=info["concurrency"],
                    started_at=info["started_at"],
                    last_seen=float(last_seen),
                )
            )
        return sorted(found, key=lambda info: info.started_at)

    def unregister_worker(self, worker_id: str) -> None:
        self._run(
            "unregister_worker", ("workers", "workers:seen"), (worker_id, _FORGET_WORKERS_AFTER)
        )

    def cancel(self, job_id: str) -> bool:
        return bool(self._run("cancel", ("keys", "scheduled", "running"), (job_id,)))

    def pause(self, queue: str) -> None:
        self._direct("pause", lambda: self._client.sadd(self._key("paused"), queue))

    def resume(self, queue: str) -> None:
        """A wake-up token goes with it: a worker may be blocked on the queue."""

        def resume() -> None:
            pipe = self._client.pipeline(transaction=True)
            pipe.srem(self._key("paused"), queue)
            pipe.lpush(self._queue_key(queue, "wake"), "1")
            pipe.ltrim(self._queue_key(queue, "wake"), 0, 15)
            pipe.execute()

        self._direct("resume", resume)

    def paused(self) -> builtins.set[str]:
        names: builtins.set[str] = self._direct(
            "read paused queues",
            lambda: self._client.smembers(self._key("paused")),  # type: ignore[arg-type,return-value]
        )
        return names

    def fired(self, schedules: Sequence[str]) -> dict[str, float]:
        names = builtins.list(schedules)
        if not names:
            return {}
        values = self._direct(
            "read schedules", lambda: self._client.hmget(self._key("schedules"), names)
        )
        return {name: float(v) for name, v in zip(names, values, strict=True) if v is not None}

    def mark_fired(self, schedule: str, fire_at: float) -> None:
        self._run("mark_fired", ("schedules",), (schedule, repr(fire_at)))

    def requeue_dead(self, job_ids: Sequence[str]) -> int:
        ids = builtins.list(job_ids)
        return sum(
            self._run("requeue_dead", ("keys",), ids[first : first + _BATCH])
            for first in range(0, len(ids), _BATCH)
        )

    def purge(
        self,
        states: Collection[JobState],
        *,
        queue: str | None = None,
        older_than: float | None = None,
        limit: int | None = None,
    ) -> int:
        """In scripts of at most `_BATCH` jobs each, so a large purge never
        holds Redis for long; within a script the oldest candidates go first."""
        if not states:
            return 0
        # A negative limit means no limit, as in SQL.
        left = None if limit is None or limit < 0 else limit
        cutoff = "" if older_than is None else older_than
        deleted = 0
        while left is None or left > 0:
            batch = _BATCH if left is None else min(_BATCH, left)
            args = (cutoff, batch, _optional(queue), *(s.value for s in states))
            done: int = self._run("purge", ("queues", "keys", "running", "scheduled"), args)
            deleted += done
            if left is not None:
                left -= done
            if done < batch:
                break
        return deleted

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """BLPOP on the queues' wake lists, at most until the next scheduled
        job of those queues is due (both read on the store's clock)."""
        names = builtins.list(dict.fromkeys(queues))
        if timeout <= 0:
            return
        if not names:
            time.sleep(min(timeout, _WAIT_CAP))
            return

        def clock_and_heads() -> builtins.list[Any]:
            pipe = self._client.pipeline(transaction=False)
            pipe.time()
            for name in names:
                pipe.zrange(self._queue_key(name, "scheduled"), 0, 0, withscores=True)
            return pipe.execute()

        (seconds, micros), *heads = self._direct("wait", clock_and_heads)
        now = seconds + micros / 1e6
        block = min([timeout, _WAIT_CAP] + [head[0][1] - now for head in heads if head])
        deadline = time.monotonic() + block
        wake_lists = [self._queue_key(name, "wake") for name in names]

        def blpop() -> Any:
            """Blocks until `deadline`: a BLPOP answered MOVED after blocking
            a while (the slot left its node) is sent again for what is left."""
            left = deadline - time.monotonic()
            if left < 0.001:  # BLPOP would read a zero timeout as "forever"
                return None
            return self._waiter.blpop(wake_lists, left)

        self._direct("wait", blpop)


def _source(name: str, tag: str) -> str:
    """A script as Redis runs it: the definitions of the shared library it
    uses, with the store's tag and the record's fields written in, then the
    script itself.

    Only those it uses: a script runs its whole text on every call, and the
    full library cost about a tenth of a single enqueue's time in Redis."""
    body = script(__name__, name)
    library = (
        _library_for(body)
        .replace("__TAG__", tag)
        .replace("__COLUMNS__", ", ".join(f"'{column}'" for column in JOB_COLUMNS))
        .replace("__POSITIONS__", ", ".join(f"{c} = {i}" for i, c in enumerate(JOB_COLUMNS, 1)))
    )
    return library + body


_LUA_COMMENT = re.compile(r"--.*$", re.MULTILINE)
_LUA_NAME = re.compile(r"[A-Za-z_]\w*")
_LUA_DEFINES = re.compile(r"local (?:function )?(\w+)")


def _library_for(body: str) -> str:
    """The definitions of ``_lib.lua`` that `body` uses, directly or through
    each other, in file order. A definition starts at a top-level ``local``
    and takes the comment lines just above it; text before the first one is
    kept (comments only)."""
    units: builtins.list[builtins.list[str]] = [[]]
    for line in script(__name__, "_lib").splitlines(keepends=True):
        if line.startswith("local "):
            above = units[-1]
            split = len(above)
            while split and above[split - 1].startswith("--"):
                split -= 1
            units[-1], comments = above[:split], above[split:]
            units.append([*comments, line])
        else:
            units[-1].append(line)
    needed = set(_LUA_NAME.findall(_LUA_COMMENT.sub("", body)))
    kept: builtins.list[str] = []
    for unit in reversed(units[1:]):  # a definition uses only those above it
        text = "".join(unit)
        match = _LUA_DEFINES.search(text)
        if match and match.group(1) in needed:
            needed.update(_LUA_NAME.findall(_LUA_COMMENT.sub("", text)))
            kept.append(text)
    return "".join(units[0]) + "".join(reversed(kept))


def _enqueued(jobs: Sequence[NewJob], reply: Sequence[Any]) -> builtins.list[JobRecord]:
    """The records an enqueue reply stands for (see enqueue.lua): a job
    inserted now is rebuilt from its `NewJob` and the times the script
    stored, a job inserted for another is that one's record, any other job
    was read."""
    created_at, entries = float(reply[0]), reply[1:]
    if not any(entries):  # the usual batch: every job inserted now, queued (0.25 µs a job less)
        return [job.inserted(created_at, run_at=created_at, state=JobState.QUEUED) for job in jobs]
    records: builtins.list[JobRecord] = []
    for job, entry in zip(jobs, entries, strict=True):
        if isinstance(entry, int):
            records.append(records[entry - 1])
            continue
        if not isinstance(entry, str):
            records.append(_record(entry))
            continue
        if entry:
            state = JobState.SCHEDULED if entry[0] == "s" else JobState.QUEUED
            run_at = float(entry[1:])
        else:
            state, run_at = JobState.QUEUED, created_at
        records.append(job.inserted(created_at, run_at=run_at, state=state))
    return records
