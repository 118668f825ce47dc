"""The stores every store-parametrised test runs against.

Adding a store is one entry in `BACKENDS`. Embedded stores build a URL per
test; service stores (Redis, PostgreSQL) read theirs from an environment
variable and are skipped, with the reason, when it is unset or the server is
unreachable. With ``CONVEYOR_REQUIRE_SERVICES=1`` (CI) an unavailable service
fails the test instead, so a missing server cannot pass as green.

``redis-cluster`` runs the same tests on a Redis Cluster of three nodes that
the run starts itself (`tests.redis_cluster`), through a node that does not
serve the store's slot; marked ``cluster``, it runs with ``pytest -m
cluster`` only, as the suite on one more store takes nearly two minutes.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conveyor.job import JobState
from conveyor.stores.base import Store
from tests import redis_cluster

REQUIRE_SERVICES_ENV = "CONVEYOR_REQUIRE_SERVICES"
DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "postgres": 5432, "postgresql": 5432}


@dataclass(frozen=True)
class Backend:
    """One store under test."""

    #: The test id: ``test_x[sqlite]``.
    name: str
    #: Builds the store URL for one test from its temporary directory.
    make_url: Callable[[Path], str]
    #: Whether several processes share its jobs (``store.capabilities.shared``);
    #: the worker process tests run on shared stores only. A conformance test
    #: checks this against the store itself.
    shared: bool
    #: A server outside the test run: its URL comes from this environment
    #: variable.
    service_env: str | None = None
    #: A server shared by the tests, emptied before each one.
    server: bool = False
    #: Marks for its parameter, such as the marker that selects it.
    marks: tuple[pytest.MarkDecorator, ...] = ()

    @classmethod
    def service(cls, name: str, env: str, default: str) -> Backend:
        return cls(
            name=name,
            make_url=lambda _tmp: os.environ.get(env, default),
            shared=True,
            service_env=env,
            server=True,
        )

    def url(self, tmp_path: Path) -> str:
        """The URL for one test, or skip (fail when services are required)."""
        url = self.make_url(tmp_path)
        if self.service_env is not None:
            if not url:
                unavailable(f"{self.name}: set {self.service_env} to a test server's URL")
            problem = probe(url)
            if problem:
                unavailable(f"{self.name}: server at {redact(url)} unreachable: {problem}")
        return url


def cluster_url(_tmp: Path) -> str:
    """The local cluster's URL through a node that does not serve the store's
    slot, so every store opened on it first follows a MOVED reply."""
    if reason := redis_cluster.missing():
        unavailable(f"redis-cluster: {reason}")
    cluster = redis_cluster.local_cluster()
    owner = cluster.owner(redis_cluster.slot_of("{conveyor}"))
    return next(node.url for node in cluster.nodes if node != owner)


BACKENDS: list[Backend] = [
    Backend("sqlite", lambda tmp: f"sqlite:///{tmp}/jobs.db", shared=True),
    Backend("memory", lambda tmp: "memory://", shared=False),
    Backend.service("redis", "CONVEYOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    Backend.service(
        "postgres", "CONVEYOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    ),
    Backend("redis-cluster", cluster_url, shared=True, server=True, marks=(pytest.mark.cluster,)),
]

SHARED_BACKENDS = [backend for backend in BACKENDS if backend.shared]


def backend_params(backends: list[Backend]) -> list[Any]:
    return [pytest.param(backend, id=backend.name, marks=backend.marks) for backend in backends]


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when ``CONVEYOR_REQUIRE_SERVICES=1``."""
    if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_ENV}=1)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def probe(url: str, timeout: float = 1.0) -> str | None:
    """None when a TCP connection to the URL's host and port opens, else why not."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:  # a Unix socket or a driver default: let the store itself try
        return None
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError as exc:
        return f"bad port: {exc}"
    if port is None:
        return f"no port in URL and no default for scheme {parts.scheme!r}"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def redact(url: str) -> str:
    """The URL without its password, for skip reasons and failure messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def empty_store(store: Store) -> None:
    """Remove every job and worker and resume every queue, through the
    protocol (service stores are shared between tests)."""
    while store.purge(set(JobState), limit=10_000):
        pass
    for worker in store.workers(ttl=10 * 365 * 86400.0):
        store.unregister_worker(worker.id)
    for queue in store.paused():
        store.resume(queue)
