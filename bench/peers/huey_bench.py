"""Huey on Redis (RedisHuey) and on SQLite (SqliteHuey, the embedded case).

Worker: ``huey_consumer bench.peers.huey_bench.huey --workers 10
--worker-type thread --quiet``: one process, ten worker threads (Huey's
default is one worker), ``--quiet`` so the consumer writes no per-task log
line. Storage:

- ``RedisHuey("bench", url="redis://127.0.0.1:6379/13")``: Huey's defaults,
  blocking dequeue (BRPOP, read timeout 1 s), results stored (a task that
  returns None stores nothing);
- ``SqliteHuey("bench", filename=...)``: Huey's defaults, WAL journal,
  SQLite's default ``synchronous`` (FULL, the same durability as conveyor's
  default). SQLite cannot block, so the idle consumer polls: first after
  0.1 s, then backing off by 1.15x up to 10 s (the consumer defaults).

Enqueue: ``noop()`` (calling a ``@huey.task()`` enqueues it). No bulk API:
``noop.map()`` enqueues one task at a time.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from huey import RedisHuey, SqliteHuey  # type: ignore[import-untyped,unused-ignore]

from bench.peers.common import REDIS_URL, Peer, job_done, job_started, variant

VARIANTS = ["redis", "sqlite"]
VARIANT = variant(VARIANTS[0])
#: SqliteHuey's database; deleted before each measurement.
SQLITE_FILE = Path(tempfile.gettempdir(), "bench-peers-huey.db")

if VARIANT == "sqlite":
    huey = SqliteHuey("bench", filename=str(SQLITE_FILE))
else:
    huey = RedisHuey("bench", url=REDIS_URL)


@huey.task()  # type: ignore[misc,unused-ignore]
def noop() -> None:
    job_done()


@huey.task()  # type: ignore[misc,unused-ignore]
def probe(sample: int) -> None:
    job_started(sample)


class HueyPeer(Peer):
    package = "huey"
    store = VARIANT
    name = "huey (SqliteHuey)" if VARIANT == "sqlite" else "huey (RedisHuey)"
    config = __doc__ or ""
    no_bulk = "Huey has no bulk enqueue; task.map() enqueues one task at a time"

    def setup(self) -> None:
        huey.flush()

    def enqueue(self, n: int) -> None:
        for _ in range(n):
            noop()

    def enqueue_probe(self, sample: int) -> None:
        probe(sample)

    def queued(self) -> int:
        return int(huey.pending_count())

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "huey.bin.huey_consumer", "bench.peers.huey_bench.huey",
            "--workers", "10", "--worker-type", "thread", "--quiet",
        ]  # fmt: skip

    def close(self) -> None:
        huey.storage.close()
        if VARIANT == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)


def make(variant: str) -> HueyPeer:
    return HueyPeer()
