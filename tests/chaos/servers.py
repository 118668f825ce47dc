"""The stores the chaos test runs on, and how each one's server is restarted.

- SQLite has no server: its fault is every worker SIGKILLed at once (done by
  the test, through its worker pool).
- Redis: a private ``redis-server`` on a free port with the append-only file
  fsynced on every write, killed with SIGKILL and started again on the same
  directory and port.
- PostgreSQL: the machine's own cluster, stopped and started with
  ``pg_ctlcluster``, or restarted in one step when it is not to stay down.
  The stop is immediate by default, a crash as Redis's SIGKILL is: no
  checkpoint, and commits made without waiting for the WAL flush (a
  worker's claims) may be undone; ``$CONVEYOR_CHAOS_PG_STOP=fast`` stops it
  cleanly instead (connections cut, every commit kept). The test uses
  a database of its own on that server, so other tests emptying theirs cannot
  touch its jobs; the cluster is started again at the end whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from conveyor import Conveyor
from tests.backends import Backend, empty_store, unavailable
from tests.helpers import wait_for

POSTGRES_CONFIG = Path("/etc/postgresql")
POSTGRES_CLUSTER = "main"
#: ``pg_ctlcluster -m`` for the restart: ``immediate`` (a crash) or ``fast``.
POSTGRES_STOP = os.environ.get("CONVEYOR_CHAOS_PG_STOP", "immediate")


class Server:
    """A store's server that the test may restart once mid-run."""

    def describe(self, down_for: float) -> str:
        """How the restart reads in the report."""
        raise NotImplementedError

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server, keep it down `down_for` seconds, start it again, and
        return once it answers."""
        raise NotImplementedError

    def close(self) -> None:
        """Leave the server as the test found it (running, for a shared one)."""


@dataclass
class Target:
    """A store URL for one chaos run and its server (None for SQLite)."""

    url: str
    server: Server | None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_answers(port: int) -> bool:
    """True when the server on `port` replies PONG (not LOADING, not refused)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(Server):
    """A private redis-server: AOF on, fsync on every write, no RDB snapshots."""

    def describe(self, down_for: float) -> str:
        return f"redis-server SIGKILLed, started again from its AOF {down_for:g} s later"

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis: the chaos test starts its own redis-server; none on PATH")
        self.binary = str(binary)
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
        ]  # fmt: skip
        log = (self.directory / f"redis-{self.starts}.log").open("wb")
        self.starts += 1
        with log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(
            lambda: redis_answers(self.port),
            timeout=30,
            message=f"redis-server on port {self.port} to answer PING",
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self, down_for: float = 0.0) -> None:
        self.kill()
        if down_for > 0:
            time.sleep(down_for)  # the outage itself
        self.start()

    def close(self) -> None:
        self.kill()


class PostgresServer(Server):
    """The machine's PostgreSQL cluster, restarted through ``pg_ctlcluster``."""

    def describe(self, down_for: float) -> str:
        if down_for > 0:
            return f"pg_ctlcluster stop -m {POSTGRES_STOP}, start {down_for:g} s later"
        return f"pg_ctlcluster restart -m {POSTGRES_STOP}"

    def __init__(self, version: str, probe_url: str) -> None:
        self.version = version
        self.probe_url = probe_url

    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @staticmethod
    def _expect(done: subprocess.CompletedProcess[str]) -> None:
        command = " ".join(done.args)
        assert done.returncode == 0, f"{command} failed:\n{done.stdout}{done.stderr}"

    def running(self) -> bool:
        return self._ctl(self.version, POSTGRES_CLUSTER, "status").returncode == 0

    def accepts_connections(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.probe_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def restart(self, down_for: float = 0.0) -> None:
        if down_for > 0:
            self._expect(self._ctl("-m", POSTGRES_STOP, self.version, POSTGRES_CLUSTER, "stop"))
            time.sleep(down_for)  # the outage itself
            self._expect(self._ctl(self.version, POSTGRES_CLUSTER, "start"))
        else:
            self._expect(self._ctl("-m", POSTGRES_STOP, self.version, POSTGRES_CLUSTER, "restart"))
        wait_for(self.accepts_connections, timeout=60, message="PostgreSQL to accept connections")

    def close(self) -> None:
        if not self.running():
            self._ctl(self.version, POSTGRES_CLUSTER, "start")
        wait_for(
            self.accepts_connections,
            timeout=60,
            message="PostgreSQL to accept connections again",
        )


def postgres_version() -> str:
    versions = sorted(p.name for p in POSTGRES_CONFIG.iterdir()) if POSTGRES_CONFIG.is_dir() else []
    if len(versions) != 1 or shutil.which("pg_ctlcluster") is None:
        unavailable(
            "postgres: the chaos test restarts the local cluster with pg_ctlcluster; "
            f"found versions {versions} under {POSTGRES_CONFIG}"
        )
    return versions[0]


def chaos_database_url(url: str) -> str:
    """The service URL with its database renamed ``<name>_chaos``, created if missing."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_chaos"
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return parts._replace(path=f"/{name}").geturl()


def empty(url: str) -> None:
    app = Conveyor(url)
    try:
        empty_store(app.store)
    finally:
        app.close()


@contextlib.contextmanager
def chaos_target(backend: Backend, tmp_path: Path) -> Iterator[Target]:
    """The store to run on, emptied, with its server; cleaned up afterwards."""
    if backend.name == "sqlite":
        yield Target(backend.url(tmp_path), None)
    elif backend.name == "redis":
        redis = RedisServer(tmp_path / "redis")
        try:
            yield Target(redis.url, redis)
        finally:
            redis.close()
    elif backend.name == "postgres":
        version = postgres_version()
        service_url = backend.url(tmp_path)
        postgres = PostgresServer(version, service_url)
        try:
            url = chaos_database_url(service_url)
            empty(url)
            yield Target(url, postgres)
        finally:
            postgres.close()
    else:
        raise AssertionError(f"no chaos set-up for store {backend.name!r}")
