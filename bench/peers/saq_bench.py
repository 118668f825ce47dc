"""SAQ on Redis.

Worker: ``saq bench.peers.saq_bench.settings --workers 1``: one process;
settings ``{"queue": Queue.from_url("redis://127.0.0.1:6379/13"),
"functions": [...], "concurrency": 10}`` (SAQ's default concurrency), the
other worker settings at their defaults (blocking dequeue; completed jobs
kept 600 s). SAQ logs at WARNING without ``-v``, so no per-job lines.
Enqueue: ``await queue.enqueue("noop")``, awaited one by one. No bulk API:
``queue.map()`` gathers one ``enqueue`` per job and then waits for the
results.
"""

from __future__ import annotations

import sys
from typing import Any

from saq import Queue  # type: ignore[import-untyped,unused-ignore]

from bench.peers.common import REDIS_URL, AsyncPeer, job_done, job_started

queue = Queue.from_url(REDIS_URL)


async def noop(ctx: dict[str, Any]) -> None:
    job_done()


async def probe(ctx: dict[str, Any], *, sample: int) -> None:
    job_started(sample)


settings = {"queue": queue, "functions": [noop, probe], "concurrency": 10}


class SaqPeer(AsyncPeer):
    name = "saq"
    store = "redis"
    package = "saq"
    config = __doc__ or ""
    no_bulk = "SAQ has no bulk enqueue; queue.map() enqueues one job per call and waits"

    def __init__(self) -> None:
        super().__init__()
        self.run(queue.connect())

    def setup(self) -> None:
        self.run(queue.redis.flushdb())

    def enqueue(self, n: int) -> None:
        async def go() -> None:
            enqueue = queue.enqueue
            for _ in range(n):
                await enqueue("noop")

        self.run(go())

    def enqueue_probe(self, sample: int) -> None:
        self.run(queue.enqueue("probe", sample=sample))

    def queued(self) -> int:
        return int(self.run(queue.count("queued")))

    def worker_command(self) -> list[str]:
        return [sys.executable, "-m", "saq", "bench.peers.saq_bench.settings", "--workers", "1"]

    def close(self) -> None:
        self.run(queue.disconnect())
        super().close()


VARIANTS = ["default"]


def make(variant: str) -> SaqPeer:
    return SaqPeer()
