"""Stores by URL scheme, imported lazily so SQLite stays the zero-dependency default."""

from __future__ import annotations

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
    raise StoreError(
        f"no store for URL scheme {scheme!r} in {url!r}; expected sqlite:// or memory://"
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
