"""Taskiq on Redis (taskiq-redis).

Worker: ``taskiq worker bench.peers.taskiq_bench:broker --workers 1
--max-async-tasks 10 --log-level WARNING``: one worker process (started by
Taskiq's process manager; its default is two), at most ten tasks at once
(its default is 100; ten is the concurrency every peer gets here), default
acknowledgement (when the result is saved). Broker: ``RedisStreamBroker``
(the one taskiq-redis's README shows; acknowledged, read with XREADGROUP,
blocking 2 s, up to 100 messages per read), no result backend. Enqueue:
``await noop.kiq()``, awaited one by one. No bulk API.
"""

from __future__ import annotations

import sys

from redis.asyncio import Redis  # type: ignore[import-untyped,unused-ignore]
from taskiq_redis import RedisStreamBroker  # type: ignore[import-untyped,unused-ignore]

from bench.peers.common import REDIS_URL, AsyncPeer, job_done, job_started

STREAM = "taskiq"
broker = RedisStreamBroker(url=REDIS_URL, queue_name=STREAM)


@broker.task(task_name="noop")  # type: ignore[misc,unused-ignore]
async def noop() -> None:
    job_done()


@broker.task(task_name="probe")  # type: ignore[misc,unused-ignore]
async def probe(sample: int) -> None:
    job_started(sample)


class TaskiqPeer(AsyncPeer):
    name = "taskiq"
    store = "redis"
    package = "taskiq"
    config = __doc__ or ""
    no_bulk = "Taskiq has no bulk enqueue"

    def __init__(self) -> None:
        super().__init__()
        self.redis = Redis.from_url(REDIS_URL)
        self.run(broker.startup())

    def setup(self) -> None:
        async def go() -> None:
            await self.redis.flushdb()
            # What the worker's startup does: create the consumer group at
            # "$", so that jobs enqueued before the worker starts are read.
            await self.redis.xgroup_create(STREAM, "taskiq", id="$", mkstream=True)

        self.run(go())

    def enqueue(self, n: int) -> None:
        async def go() -> None:
            kiq = noop.kiq
            for _ in range(n):
                await kiq()

        self.run(go())

    def enqueue_probe(self, sample: int) -> None:
        self.run(probe.kiq(sample))

    def queued(self) -> int:
        return int(self.run(self.redis.xlen(STREAM)))

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "taskiq", "worker", "bench.peers.taskiq_bench:broker",
            "--workers", "1", "--max-async-tasks", "10", "--log-level", "WARNING",
        ]  # fmt: skip

    def close(self) -> None:
        self.run(broker.shutdown())
        self.run(self.redis.aclose())
        super().close()


VARIANTS = ["default"]


def make(variant: str) -> TaskiqPeer:
    return TaskiqPeer()
