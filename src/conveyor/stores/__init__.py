"""Stores by URL scheme, imported lazily so SQLite stays the zero-dependency default."""

from __future__ import annotations

import importlib.util
from urllib.parse import urlsplit, urlunsplit

from conveyor.errors import StoreError
from conveyor.stores.base import Capabilities, Lease, QueueStats, Store, WorkerInfo

__all__ = [
    "Capabilities",
    "Lease",
    "QueueStats",
    "Store",
    "WorkerInfo",
    "open_store",
    "redact",
]

DEFAULT_URL = "sqlite://conveyor.db"


def open_store(url: str) -> Store:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from conveyor.stores.sqlite import SqliteStore

        return SqliteStore(url)
    if scheme == "memory":
        from conveyor.stores.memory import MemoryStore

        return MemoryStore.named(url)
    if scheme in ("redis", "rediss"):
        _require("redis", "redis")
        from conveyor.stores.redis import RedisStore

        return RedisStore(url)
    if scheme in ("postgresql", "postgres"):
        _require("psycopg", "postgres")
        from conveyor.stores.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(
        f"no store for URL scheme {scheme!r} in {redact(url)!r}; expected sqlite://, "
        "memory://, redis://, rediss://, postgresql:// or postgres://"
    )


def _require(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise StoreError(
            f"the {extra} store needs the {module!r} package: pip install 'conveyor[{extra}]'"
        )


def redact(url: str) -> str:
    """The URL without its password, safe to print and to log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
