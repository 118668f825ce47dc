"""arq on Redis (run from its own environment, bench/.peers-venv/arq: see install.sh).

Worker: ``arq.run_worker(WorkerSettings)`` in one process, the documented
programmatic form of ``arq bench.peers.arq_bench.WorkerSettings``, with
logging at WARNING so the worker writes no per-job lines (the ``arq``
command logs two per job at INFO). ``WorkerSettings``: redis
``redis://127.0.0.1:6379/13``, arq's defaults otherwise: ``max_jobs = 10``,
``poll_delay = 0.5`` s (the idle worker polls the queue twice a second; arq
has no blocking wake-up), ``queue_read_limit = 100``, results kept 3600 s.
Enqueue: ``await pool.enqueue_job("noop")``, awaited one by one. No bulk
API: ``enqueue_job`` is the only way in.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from arq import create_pool  # type: ignore[import-not-found,unused-ignore]
from arq.connections import ArqRedis, RedisSettings  # type: ignore[import-not-found,unused-ignore]

from bench.peers.common import REDIS_URL, AsyncPeer, job_done, job_started

SETTINGS = RedisSettings.from_dsn(REDIS_URL)


async def noop(ctx: dict[str, Any]) -> None:
    job_done()


async def probe(ctx: dict[str, Any], sample: int) -> None:
    job_started(sample)


class WorkerSettings:
    functions: ClassVar[list[Any]] = [noop, probe]
    redis_settings = SETTINGS
    max_jobs = 10


WORKER = (
    "import logging; logging.basicConfig(level=logging.WARNING); "
    "from arq import run_worker; from bench.peers.arq_bench import WorkerSettings; "
    "run_worker(WorkerSettings)"
)


class ArqPeer(AsyncPeer):
    name = "arq"
    store = "redis"
    package = "arq"
    config = __doc__ or ""
    no_bulk = "arq has no bulk enqueue"

    def __init__(self) -> None:
        super().__init__()
        self.pool: ArqRedis = self.run(create_pool(SETTINGS))

    def setup(self) -> None:
        self.run(self.pool.flushdb())

    def enqueue(self, n: int) -> None:
        async def go() -> None:
            enqueue_job = self.pool.enqueue_job
            for _ in range(n):
                await enqueue_job("noop")

        self.run(go())

    def enqueue_probe(self, sample: int) -> None:
        self.run(self.pool.enqueue_job("probe", sample))

    def queued(self) -> int:
        return int(self.run(self.pool.zcard("arq:queue")))

    def worker_command(self) -> list[str]:
        return [sys.executable, "-c", WORKER]

    def close(self) -> None:
        self.run(self.pool.aclose())
        super().close()


VARIANTS = ["default"]


def make(variant: str) -> ArqPeer:
    return ArqPeer()
