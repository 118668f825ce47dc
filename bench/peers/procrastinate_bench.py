"""Procrastinate on PostgreSQL.

Worker: ``procrastinate --app bench.peers.procrastinate_bench.app
--log-level warning worker --concurrency 10``: one process, ten concurrent
jobs (Procrastinate's default is one), LISTEN/NOTIFY on (the default),
finished jobs kept (``--delete-jobs never``, the default). ``--log-level
warning`` drops the two INFO lines the worker logs per job. Connector:
``PsycopgConnector(conninfo="postgresql://postgres@127.0.0.1:5432/bench")``
(psycopg 3, async pool); schema applied with ``schema_manager``. Enqueue:
``await noop.defer_async()``, awaited one by one; bulk:
``await noop.batch_defer_async(*[{}] * chunk)``, one INSERT per call.
"""

from __future__ import annotations

import sys

import psycopg
from procrastinate import App, PsycopgConnector  # type: ignore[import-untyped,unused-ignore]

from bench.peers.common import PG_DSN, AsyncPeer, job_done, job_started

app = App(connector=PsycopgConnector(conninfo=PG_DSN))


@app.task(name="noop")  # type: ignore[misc,unused-ignore]
async def noop() -> None:
    job_done()


@app.task(name="probe")  # type: ignore[misc,unused-ignore]
async def probe(sample: int) -> None:
    job_started(sample)


class ProcrastinatePeer(AsyncPeer):
    name = "procrastinate"
    store = "postgres"
    package = "procrastinate"
    config = __doc__ or ""

    def __init__(self) -> None:
        super().__init__()
        self.sql = psycopg.connect(PG_DSN, autocommit=True)
        exists = self.sql.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if exists is None or exists[0] is None:
            self.run(self._apply_schema())
        self.run(app.open_async())

    async def _apply_schema(self) -> None:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

    def setup(self) -> None:
        self.sql.execute("TRUNCATE procrastinate_jobs RESTART IDENTITY CASCADE")

    def enqueue(self, n: int) -> None:
        async def go() -> None:
            defer = noop.defer_async
            for _ in range(n):
                await defer()

        self.run(go())

    def enqueue_bulk(self, n: int, chunk: int) -> None:
        async def go() -> None:
            for first in range(0, n, chunk):
                await noop.batch_defer_async(*[{}] * min(chunk, n - first))

        self.run(go())

    def enqueue_probe(self, sample: int) -> None:
        self.run(probe.defer_async(sample=sample))

    def queued(self) -> int:
        row = self.sql.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"
        ).fetchone()
        return int(row[0]) if row else 0

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "procrastinate", "--app", "bench.peers.procrastinate_bench.app",
            "--log-level", "warning", "worker", "--concurrency", "10",
        ]  # fmt: skip

    def close(self) -> None:
        self.run(app.close_async())
        self.sql.close()
        super().close()


VARIANTS = ["default"]


def make(variant: str) -> ProcrastinatePeer:
    return ProcrastinatePeer()
