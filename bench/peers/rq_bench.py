"""RQ on Redis.

Worker: ``rq worker --url redis://127.0.0.1:6379/13 --worker-class CLASS
--quiet default``, one process running one job at a time (RQ has no
concurrency within a worker). Two rows:

- ``SimpleWorker`` runs jobs in the worker process. RQ's "Notes on
  Performance" measure it about 6x faster than the default and allow it in
  production for jobs that are "extremely short-lived (single digit
  milliseconds)", which a no-op job is.
- ``Worker`` (the default, which RQ recommends for production) forks a work
  horse per job.

``--quiet`` drops RQ's per-job INFO log lines (every worker in this harness
runs without per-job logging). Results: RQ's defaults (kept 500 s).
Enqueue: ``queue.enqueue(noop)``; bulk: ``queue.enqueue_many([...])`` of
``Queue.prepare_data(noop)``, one Redis pipeline per call.
"""

from __future__ import annotations

import sys

from redis import Redis  # type: ignore[import-untyped,unused-ignore]
from rq import Queue  # type: ignore[import-untyped,unused-ignore]

from bench.peers.common import REDIS_URL, Peer, job_done, job_started

CLASSES = {"simple": "rq.worker.SimpleWorker", "fork": "rq.worker.Worker"}


def noop() -> None:
    job_done()


def probe(sample: int) -> None:
    job_started(sample)


class RqPeer(Peer):
    store = "redis"
    package = "rq"
    config = __doc__ or ""

    def __init__(self, variant: str) -> None:
        self.worker_class = CLASSES[variant]
        self.name = "rq (" + self.worker_class.rsplit(".", 1)[1] + ")"
        self.redis = Redis.from_url(REDIS_URL)
        self.queue = Queue("default", connection=self.redis)

    def setup(self) -> None:
        self.redis.flushdb()

    def enqueue(self, n: int) -> None:
        enqueue = self.queue.enqueue
        for _ in range(n):
            enqueue(noop)

    def enqueue_bulk(self, n: int, chunk: int) -> None:
        for first in range(0, n, chunk):
            size = min(chunk, n - first)
            self.queue.enqueue_many([Queue.prepare_data(noop) for _ in range(size)])

    def enqueue_probe(self, sample: int) -> None:
        self.queue.enqueue(probe, sample)

    def queued(self) -> int:
        return int(self.queue.count)

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "rq.cli", "worker", "--url", REDIS_URL,
            "--worker-class", self.worker_class, "--quiet", "default",
        ]  # fmt: skip

    def close(self) -> None:
        self.redis.close()


VARIANTS = list(CLASSES)
make = RqPeer
