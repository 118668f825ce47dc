"""Module-level functions a test registers with ``process=True``: a child
process imports them by module and name."""

from __future__ import annotations

import os
import time


def spin(seconds: float) -> str:
    """A loop that never yields, as CPU-bound or stuck code does."""
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        count += 1
    return "spun"


def pid() -> int:
    return os.getpid()


def fail(kind: str) -> None:
    if kind == "value":
        raise ValueError("bad value in a child")
    if kind == "exit":
        os._exit(3)
    raise RuntimeError(kind)


def unserialisable() -> object:
    return object()
