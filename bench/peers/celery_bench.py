"""Celery on Redis.

Worker: ``celery -A bench.peers.celery_bench worker --pool threads
--concurrency 10`` (one process, ten threads), log level WARNING (Celery's
default). Settings: broker ``redis://127.0.0.1:6379/13``;
``worker_prefetch_multiplier = 64`` (the Optimizing guide: for many short
tasks the multiplier should be large, "say 64, or 128"); ``task_acks_late =
False`` (the default: acknowledged just before the task runs); ``task_ignore_result =
True`` and no result backend (the guide: ignore results you do not use).
Enqueue: ``noop.delay()``. No bulk API: ``group()`` and ``chunks()`` publish
one message per call or change what a task receives.
"""

from __future__ import annotations

import sys

import redis  # type: ignore[import-untyped,unused-ignore]
from celery import Celery  # type: ignore[import-untyped,unused-ignore]

from bench.peers.common import REDIS_URL, Peer, job_done, job_started

app = Celery("bench_celery", broker=REDIS_URL)
app.conf.update(
    worker_prefetch_multiplier=64,
    task_acks_late=False,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
)


@app.task(name="noop")  # type: ignore[misc,unused-ignore]
def noop() -> None:
    job_done()


@app.task(name="probe")  # type: ignore[misc,unused-ignore]
def probe(sample: int) -> None:
    job_started(sample)


class CeleryPeer(Peer):
    name = "celery"
    store = "redis"
    package = "celery"
    config = __doc__ or ""
    no_bulk = "Celery has no bulk publish; group() sends one message per task"

    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(REDIS_URL)

    def setup(self) -> None:
        self.redis.flushdb()

    def enqueue(self, n: int) -> None:
        delay = noop.delay
        for _ in range(n):
            delay()

    def enqueue_probe(self, sample: int) -> None:
        probe.delay(sample)

    def queued(self) -> int:
        return int(self.redis.llen("celery"))

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "bench.peers.celery_bench", "worker",
            "--pool", "threads", "--concurrency", "10", "--loglevel", "WARNING",
        ]  # fmt: skip

    def close(self) -> None:
        self.redis.close()


VARIANTS = ["threads"]


def make(variant: str) -> CeleryPeer:
    return CeleryPeer()
