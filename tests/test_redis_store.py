"""Redis-only behaviour the conformance suite cannot see: the warning about an
eviction policy at open, the one hash tag every key carries (what makes the
store run on Redis Cluster), following the Cluster node that serves the
store's slot (on a cluster the run starts, `tests.redis_cluster`),
``rediss://`` URLs, and the error for a server that cannot be reached.

The server is shared with the other tests: a test that changes its
configuration restores it, and keys are written under a prefix of the test's
own in the tests' database (see `tests.backends`), then deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
import redis
from redis.crc import key_slot

import conveyor.stores.redis as redis_module
from conveyor.errors import StoreError
from conveyor.job import ErrorInfo, JobRecord, JobState, Outcome
from conveyor.stores import open_store, redact
from conveyor.stores.base import ConcurrencyLimit, Lease, RateLimit
from conveyor.stores.redis import RedisStore
from tests import redis_cluster
from tests.backends import BACKENDS, unavailable
from tests.helpers import logged_warnings, new_job, wait_for, worker_info

REDIS = next(backend for backend in BACKENDS if backend.name == "redis")
LOGGER = redis_module.log.name
#: Nothing listens on port 1 (binding it needs root).
UNREACHABLE = "redis://:secret@127.0.0.1:1/15"


@pytest.fixture
def redis_url(tmp_path: Path) -> str:
    """The test server's URL: skips, or fails under CONVEYOR_REQUIRE_SERVICES=1."""
    return REDIS.url(tmp_path)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the tests' database, to look behind the store."""
    with redis.Redis.from_url(redis_url) as plain:
        yield plain


def with_query(url: str, option: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{option}" if parts.query else option
    return parts._replace(query=query).geturl()


# -- the eviction policy warning ----------------------------------------------


@pytest.fixture
def set_policy(client: redis.Redis) -> Iterator[Callable[[str], None]]:
    """Sets the server's ``maxmemory-policy``; the original is put back
    whatever happens, as every other test shares the server."""
    try:
        original = str(client.config_get("maxmemory-policy")["maxmemory-policy"])
    except redis.ResponseError as exc:  # CONFIG renamed or disabled
        pytest.skip(f"the test server refuses CONFIG: {exc}")

    def set_policy(policy: str) -> None:
        client.config_set("maxmemory-policy", policy)

    try:
        yield set_policy
    finally:
        client.config_set("maxmemory-policy", original)


def warnings_on_open(url: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings the store logs while it opens on `url`."""
    caplog.clear()
    RedisStore(url).close()
    return logged_warnings(caplog, LOGGER)


@pytest.fixture
def checks(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture the store's warnings, with none given yet in this process: it
    warns once per server and policy (the module's record is restored after)."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    monkeypatch.setattr(redis_module, "_warned", set())


@pytest.mark.usefixtures("checks")
def test_warns_once_when_redis_may_evict_jobs(
    redis_url: str, set_policy: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    """Any policy but noeviction lets Redis drop job keys under memory
    pressure: the operator must hear of it, but once, not per store opened."""
    set_policy("allkeys-lru")
    [warning] = warnings_on_open(redis_url, caplog)
    assert "maxmemory-policy allkeys-lru" in warning
    assert "noeviction" in warning  # says what to set
    assert redact(redis_url) in warning

    assert warnings_on_open(redis_url, caplog) == [], "warned twice in one process"


@pytest.mark.usefixtures("checks")
def test_no_warning_with_noeviction(
    redis_url: str, set_policy: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    """The recommended setting must stay silent, or the warning is noise."""
    set_policy("noeviction")
    assert warnings_on_open(redis_url, caplog) == []


# -- one hash tag: Redis Cluster ----------------------------------------------


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    name = f"tagtest-{uuid4().hex[:12]}"
    yield name
    keys = list(client.scan_iter(match=f"{{{name}}}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def keyspace_events(client: redis.Redis) -> Iterator[Callable[[], set[str]]]:
    """Returns a function giving every key written in the tests' database
    since the fixture started, as keyspace notifications name them: unlike a
    SCAN at the end, this sees keys a step writes and a later one deletes.
    Notifications are turned on for the test and restored afterwards."""
    try:
        original = str(client.config_get("notify-keyspace-events")["notify-keyspace-events"])
    except redis.ResponseError as exc:  # CONFIG renamed or disabled
        pytest.skip(f"the test server refuses CONFIG: {exc}")
    db = client.connection_pool.connection_kwargs.get("db", 0)
    done = f"tagtest-done-{uuid4().hex}"
    pubsub = client.pubsub()
    try:
        client.config_set("notify-keyspace-events", f"{original}EA")
        pubsub.psubscribe(f"__keyevent@{db}__:*")
        pubsub.subscribe(done)
        for _ in range(2):  # both subscriptions confirmed: no event is missed
            assert pubsub.get_message(timeout=5) is not None

        def written() -> set[str]:
            client.publish(done, "")  # delivered after every earlier event
            keys: set[str] = set()
            while (message := pubsub.get_message(timeout=5)) is not None:
                if message["channel"] == done.encode():
                    return keys
                keys.add(message["data"].decode())
            raise AssertionError("keyspace notifications stopped before the end marker")

        yield written
    finally:
        pubsub.close()
        client.config_set("notify-keyspace-events", original)


def snapshot(client: redis.Redis) -> dict[bytes, Any]:
    """Every key of the database with its serialised value (``DUMP``)."""
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


def exercise(store: RedisStore, queues: tuple[str, str]) -> str:
    """Take jobs of both `queues` through every step of the protocol that
    writes (limits, retries, dead letters, pauses, schedules, workers);
    returns the id of a job that holds a unique key at the end."""
    worker = worker_info("tag-worker", queues=queues)
    store.heartbeat(worker, [], 30.0)
    store.pause("mail")
    jobs = store.enqueue([new_job(queue=queue) for queue in queues for _ in range(3)])
    keyed, later = store.enqueue(
        [new_job(queue="mail", key="welcome:41"), new_job(queue="mail", delay=3600.0)]
    )
    assert later.state is JobState.SCHEDULED
    store.resume("mail")
    store.wait(list(queues), 0.01)
    claimed = store.claim(list(queues), worker.id, 10, 30.0)
    assert {job.id for job in claimed} == {job.id for job in [*jobs, keyed]}

    rated, slotted, parked, failed, retried, *succeeded = claimed
    assert store.admit(Lease(rated.id, rated.attempt), rate=RateLimit("tag.rate", 0.01)) == 0
    slots = ConcurrencyLimit("tag.slots", 1)
    assert store.admit(Lease(slotted.id, slotted.attempt), concurrency=slots) == 0
    assert store.admit(Lease(parked.id, parked.attempt), concurrency=slots) is None
    running = [job for job in claimed if job is not parked]
    assert store.heartbeat(worker, [Lease(job.id, job.attempt) for job in running], 30.0) == []

    def error(job: JobRecord) -> ErrorInfo:
        return ErrorInfo(attempt=job.attempt, type="RuntimeError", message="failed")

    outcomes = [
        Outcome(failed.id, failed.attempt, JobState.DEAD, error=error(failed), reason="x"),
        Outcome(retried.id, retried.attempt, JobState.SCHEDULED, error=error(retried)),
        *(
            Outcome(job.id, job.attempt, JobState.SUCCEEDED, result="null")
            for job in [rated, slotted, *succeeded]
        ),
    ]
    assert store.finish(outcomes) == len(outcomes)
    assert store.release(slots) == 1
    assert store.requeue_dead([failed.id]) == 1
    assert store.cancel(later.id)
    [held] = store.enqueue([new_job(queue="reports{eu}", key="welcome:42")])
    store.mark_fired("tag.schedule", time.time())
    store.recover()
    store.maintain()
    assert {stats.queue for stats in store.counts()} == set(queues)
    store.unregister_worker(worker.id)
    return held.id


def test_every_key_carries_the_store_hash_tag(
    redis_url: str,
    client: redis.Redis,
    prefix: str,
    keyspace_events: Callable[[], set[str]],
) -> None:
    """On Cluster a script may only touch keys of one slot, so every key the
    store writes, at any step, must hash by the store's ``{prefix}`` tag; a
    queue name holding braces must not start a tag of its own."""
    tag = f"{{{prefix}}}"
    queues = ("mail", "reports{eu}")
    before = snapshot(client)

    store = RedisStore(with_query(redis_url, f"prefix={prefix}"))
    try:
        held = exercise(store, queues)
    finally:
        store.close()

    written = keyspace_events()
    outside = sorted(key for key in written if not key.startswith(f"{tag}:"))
    assert outside == [], "keys written without the store's hash tag"
    assert {key_slot(key.encode()) for key in written} == {key_slot(tag.encode())}

    after = snapshot(client)
    ours = {key for key in after if key.decode().startswith(f"{tag}:")}
    assert {key: value for key, value in after.items() if key not in ours} == before
    assert {key.decode() for key in ours} <= written
    # Both queues and the store-wide structures were written, not just jobs.
    for part in (
        *(f"q:{queue}:{state}" for queue in queues for state in ("jobs", "ready", "wake")),
        "q:mail:scheduled",
        "q:mail:cancelled",
        f"job:{held}",
        "keys",
        "running",
        "paused",
        "scheduled",
        "rate:tag.rate",
        "slots:tag.slots",
        "parked:tag.slots",
        "schedules",
        "workers",
        "workers:seen",
    ):
        assert f"{tag}:{part}" in written, f"{tag}:{part} never written: {sorted(written)}"
    # The job sent to the dead letters may be of either queue.
    assert any(f"{tag}:q:{queue}:dead" in written for queue in queues), sorted(written)


@pytest.fixture
def cluster() -> redis_cluster.LocalCluster:
    """The run's local Redis Cluster (skipped, or failed in CI, without
    ``redis-server``)."""
    if reason := redis_cluster.missing():
        unavailable(f"redis-cluster: {reason}")
    return redis_cluster.local_cluster()


def cluster_prefix(cluster: redis_cluster.LocalCluster) -> tuple[str, redis_cluster.Node]:
    """A prefix of the test's own, and the node that serves its slot."""
    prefix = f"clustertest-{uuid4().hex[:12]}"
    return prefix, cluster.owner(redis_cluster.slot_of(f"{{{prefix}}}"))


def test_a_store_opened_on_any_node_of_a_cluster_runs_on_its_slots_node(
    cluster: redis_cluster.LocalCluster,
) -> None:
    """A Cluster URL may name any node; the others answer the store's keys
    with MOVED, which the store follows at open."""
    prefix, owner = cluster_prefix(cluster)
    stores = [RedisStore(f"{node.url}?prefix={prefix}") for node in cluster.nodes]
    try:
        ids = [store.enqueue([new_job()])[0].id for store in stores]
        for store in stores:
            assert [store.get(job_id).state for job_id in ids] == [JobState.QUEUED] * 3  # type: ignore[union-attr]
        claimed = stores[1].claim(["default"], "w", 10, 30.0)
        assert sorted(record.id for record in claimed) == sorted(ids)
        for node in cluster.nodes:
            with node.client() as client:
                keys = list(client.scan_iter(match=f"{{{prefix}}}*"))
            assert bool(keys) == (node == owner), f"keys on {node.port}: {keys}"
    finally:
        stores[0].purge(set(JobState))
        for store in stores:
            store.close()


def test_the_store_follows_its_slot_when_the_cluster_moves_it(
    cluster: redis_cluster.LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """After a resharding (or a failover) the old node answers MOVED: the
    store's scripts, its plain commands and its blocking wait each follow it
    to the new node, without an error to the caller and without losing a job."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    prefix, owner = cluster_prefix(cluster)
    slot = redis_cluster.slot_of(f"{{{prefix}}}")
    store = RedisStore(f"{owner.url}?prefix={prefix}")
    try:
        first = store.enqueue([new_job() for _ in range(20)])
        others = [node for node in cluster.nodes if node != owner]
        moves = [others[0], owner, others[1]]

        cluster.move_slot(slot, moves[0])
        store.wait(["default"], 0.05)  # a pipeline, then BLPOP on the waiting pool
        cluster.move_slot(slot, moves[1])
        assert store.get(first[0].id).state is JobState.QUEUED  # type: ignore[union-attr]
        cluster.move_slot(slot, moves[2])
        second = store.enqueue([new_job() for _ in range(5)])  # a script

        followed = [r.getMessage() for r in caplog.records if "slot is served by" in r.getMessage()]
        assert [message.rsplit(":", 1)[1] for message in followed] == [
            str(node.port) for node in moves
        ]
        claimed = store.claim(["default"], "w", 100, 30.0)
        assert sorted(r.id for r in claimed) == sorted(r.id for r in first + second)
        done = [Outcome(r.id, r.attempt, JobState.SUCCEEDED, result="1") for r in claimed]
        assert store.finish(done) == 25
    finally:
        store.purge(set(JobState))
        store.close()


def test_a_wait_the_slot_moves_under_keeps_its_deadline(
    cluster: redis_cluster.LocalCluster,
) -> None:
    """A BLPOP blocked on the node the slot leaves is answered MOVED; the
    wait sent again on the new node blocks only for what is left of its
    timeout, not the whole timeout a second time."""
    prefix, owner = cluster_prefix(cluster)
    slot = redis_cluster.slot_of(f"{{{prefix}}}")
    store = RedisStore(f"{owner.url}?prefix={prefix}")
    target = next(node for node in cluster.nodes if node != owner)
    try:
        store.wait(["idle"], 0.01)  # connected, the slot's node known
        waited: list[float] = []

        def wait() -> None:
            started = time.monotonic()
            store.wait(["idle"], 1.5)  # nothing queued there: blocks its whole timeout
            waited.append(time.monotonic() - started)

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.6)
        cluster.move_slot(slot, target)
        waiter.join(5.0)
        assert waited and 1.4 < waited[0] < 2.0, waited  # the whole timeout again: 2.1 or more
    finally:
        store.close()


@pytest.mark.cluster
def test_the_store_finds_its_slot_on_the_replica_that_took_over_from_a_killed_node(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A crashed node answers nothing, so no MOVED comes: the store asks the
    other nodes where its slot went once its own stops answering. Calls fail
    while the Cluster elects the replica (the worker retries them), then
    work again on the replica, which holds every job replicated to it."""
    if reason := redis_cluster.missing():
        unavailable(f"redis-cluster: {reason}")
    caplog.set_level(logging.INFO, logger=LOGGER)
    cluster = redis_cluster.start_cluster(replicas=1)
    store = None
    try:
        prefix, owner = cluster_prefix(cluster)
        store = RedisStore(f"{owner.url}?prefix={prefix}")
        first = store.enqueue([new_job() for _ in range(20)])
        with owner.client() as client:  # Redis replicates after replying: wait for it
            assert client.execute_command("WAIT", 1, 5000) == 1
        cluster.kill(owner)

        def reached() -> JobRecord | None:
            try:
                return store.get(first[0].id)  # type: ignore[union-attr]
            except StoreError:
                return None

        record = wait_for(reached, timeout=30, interval=0.2, message="the store on the replica")
        assert record.state is JobState.QUEUED
        promoted = cluster.owner(redis_cluster.slot_of(f"{{{prefix}}}"))
        assert promoted != owner
        assert f"the store's slot is served by 127.0.0.1:{promoted.port}" in caplog.text
        second = store.enqueue([new_job() for _ in range(5)])
        claimed = store.claim(["default"], "w", 100, 30.0)
        assert sorted(r.id for r in claimed) == sorted(r.id for r in first + second)
        done = [Outcome(r.id, r.attempt, JobState.SUCCEEDED, result="1") for r in claimed]
        assert store.finish(done) == 25
    finally:
        if store is not None:
            store.close()
        cluster.stop()


# -- URLs and errors ----------------------------------------------------------


def one_line_store_error(url: str) -> str:
    """The message of the `StoreError` opening a store on `url` raises."""
    began = time.monotonic()
    with pytest.raises(StoreError) as raised:
        open_store(url)
    assert time.monotonic() - began < 10
    message = str(raised.value)
    assert message.strip() and "\n" not in message, message
    return message


def test_rediss_url_is_accepted_and_a_failed_tls_connect_is_one_line(redis_url: str) -> None:
    """The test server speaks no TLS, so the handshake fails: a `StoreError`,
    not a refused URL or a crash, within the store's connect timeout (5 s)
    rather than its 20 s reply timeout, which redis-py would give the
    handshake."""
    open_store(redis_url).close()  # the same server, without TLS, opens

    tls = urlsplit(redis_url)._replace(scheme="rediss").geturl()
    started = time.monotonic()
    message = one_line_store_error(tls)
    assert time.monotonic() - started < 10.0
    assert message.startswith(f"cannot open Redis at {tls}: ")


def test_unreachable_server_is_one_line_store_error() -> None:
    """Workers log a StoreError as one line and retry: it must say where and
    why in one line, without the password in the URL."""
    message = one_line_store_error(UNREACHABLE)
    assert message.startswith("cannot open Redis at redis://:***@127.0.0.1:1/15: ")
    assert "secret" not in message


# -- rate reservations ----------------------------------------------------------


def test_a_job_cancelled_or_purged_while_it_holds_a_rate_reservation_gives_it_up(
    redis_url: str, client: redis.Redis, prefix: str
) -> None:
    """A job a rate limit put back holds an entry in its bucket's hash until
    admitted; one that never comes back to be admitted must not leave its
    entry behind for ever."""
    store = RedisStore(with_query(redis_url, f"prefix={prefix}"))
    reserved = f"{{{prefix}}}:reserved:tests.bucket.leak"
    limit = RateLimit("tests.bucket.leak", interval=10.0)
    try:
        store.enqueue([new_job() for _ in range(3)])
        first, cancelled, purged = store.claim(["default"], "w", 3, 30.0)
        assert store.admit(Lease(first.id, first.attempt), rate=limit) == 0.0
        for job in (cancelled, purged):
            assert store.admit(Lease(job.id, job.attempt), rate=limit) is None
        assert client.hlen(reserved) == 2

        assert store.cancel(cancelled.id)
        assert store.purge({JobState.SCHEDULED}) == 1
        assert client.hlen(reserved) == 0
    finally:
        store.close()
