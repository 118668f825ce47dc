"""The outside world the demo's tasks talk to, faked: remote services that fail
the first call or two for some requests, the way real ones do under load.

Which requests fail, and how many times, is decided by a hash of the request,
so every run of the demo tells the same story. The calls already made are
counted in a small SQLite file beside the demo's job store, shared by every
worker process: a retry that lands on another process sees the earlier
failures, as it would with a real service.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from conveyor.stores.sqlite import path_from_url


class ServiceUnavailable(ConnectionError):
    """A remote service refused or dropped the connection: worth retrying."""


def fraction(namespace: str, key: object) -> float:
    """A stable number in [0, 1) for a request: the same on every run and process."""
    digest = hashlib.blake2b(f"{namespace}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def calls_path(store_url: str) -> str:
    """Beside the job store when it is a SQLite file; in the temp dir otherwise."""
    if urlsplit(store_url).scheme == "sqlite":
        return path_from_url(store_url) + "-calls"
    return str(Path(tempfile.gettempdir()) / "conveyor-demo-calls.db")


class CallLog:
    """How many times each request has been made, across processes."""

    def __init__(self, path: Callable[[], str]) -> None:
        self._path = path
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path(), timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = OFF")  # a fake service's memory, not data
            conn.execute("CREATE TABLE IF NOT EXISTS calls (request TEXT PRIMARY KEY, n INTEGER)")
            self._local.conn = conn
        return conn

    def bump(self, request: str) -> int:
        """Count one more call of `request`; returns how many there have been."""
        row = (
            self._conn()
            .execute(
                "INSERT INTO calls VALUES (?, 1) ON CONFLICT (request) DO UPDATE SET n = n + 1 "
                "RETURNING n",
                (request,),
            )
            .fetchone()
        )
        return int(row[0])


class FlakyService:
    """A service that fails the first one or two calls for `failure_rate` of requests."""

    def __init__(self, name: str, failure_rate: float, log: CallLog) -> None:
        self.name = name
        self.failure_rate = failure_rate
        self.log = log

    def failures(self, request: object) -> int:
        """How many calls of `request` fail before one succeeds (0, 1 or 2)."""
        draw = fraction(self.name, request)
        if draw >= self.failure_rate:
            return 0
        return 1 if draw < self.failure_rate / 2 else 2

    def call(self, request: object) -> None:
        """Make the call: returns when it went through, raises when it did not."""
        failures = self.failures(request)
        if failures and self.log.bump(f"{self.name}:{request}") <= failures:
            raise ServiceUnavailable(f"{self.name}: connection reset by peer (request {request})")
