"""Dramatiq on Redis.

Worker: ``dramatiq bench.peers.dramatiq_bench --processes 1 --threads 10``
(one worker process, forked by Dramatiq's main process, with ten worker
threads; Dramatiq's default is 8 threads and one process per CPU). Broker:
``RedisBroker(url="redis://127.0.0.1:6379/13")`` with the default
middleware (no Results middleware); the worker's prefetch is Dramatiq's
default (twice the thread count). Dramatiq logs no per-message lines by
default. Enqueue: ``noop.send()``. No bulk API: ``group()`` and pipelines
send one message per actor call.
"""

from __future__ import annotations

import sys

import dramatiq  # type: ignore[import-untyped,unused-ignore]
from dramatiq.brokers.redis import RedisBroker  # type: ignore[import-untyped,unused-ignore]

from bench.peers.common import REDIS_URL, Peer, job_done, job_started

broker = RedisBroker(url=REDIS_URL)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="default")  # type: ignore[misc,unused-ignore]
def noop() -> None:
    job_done()


@dramatiq.actor(queue_name="default")  # type: ignore[misc,unused-ignore]
def probe(sample: int) -> None:
    job_started(sample)


class DramatiqPeer(Peer):
    name = "dramatiq"
    store = "redis"
    package = "dramatiq"
    config = __doc__ or ""
    no_bulk = "Dramatiq has no bulk enqueue; group() sends one message per actor call"

    def setup(self) -> None:
        broker.client.flushdb()

    def enqueue(self, n: int) -> None:
        send = noop.send
        for _ in range(n):
            send()

    def enqueue_probe(self, sample: int) -> None:
        probe.send(sample)

    def queued(self) -> int:
        return int(broker.client.llen("dramatiq:default"))

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "dramatiq", "bench.peers.dramatiq_bench",
            "--processes", "1", "--threads", "10",
        ]  # fmt: skip

    def close(self) -> None:
        broker.close()


VARIANTS = ["default"]


def make(variant: str) -> DramatiqPeer:
    return DramatiqPeer()
