"""PgQueuer on PostgreSQL (asyncpg driver).

Worker: ``pgqueuer run bench.peers.pgqueuer_bench:create_pgqueuer
--batch-size 10``: one process. ``--batch-size 10`` is PgQueuer's default and
the dequeue batch of its published benchmark; jobs at once are not capped
(the default; PgQueuer refuses a ``--max-concurrent-tasks`` below twice the
batch size); LISTEN/NOTIFY wake-ups and the dequeue timeout (30 s) at their
defaults; logging at PgQueuer's default INFO, which writes no per-job lines.
The factory connects with ``asyncpg`` (``AsyncpgDriver``), the driver
PgQueuer's README leads with and the faster one in its benchmark. Schema:
``Queries(driver).install()``. ``pgqueuer run`` needs Typer below 0.26 (see
install.sh).
Enqueue: ``await queries.enqueue("noop", None)``, awaited one by one; bulk:
``await queries.enqueue(["noop"] * chunk, [None] * chunk, [0] * chunk)``,
one statement per call.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped,unused-ignore]
from pgqueuer import AsyncpgDriver, Job, PgQueuer, Queries  # type: ignore[import-untyped,unused-ignore]

from bench.peers.common import PG_DSN, AsyncPeer, job_done, job_started


@asynccontextmanager
async def create_pgqueuer() -> AsyncIterator[PgQueuer]:
    """The worker's factory, as ``pgqueuer run`` expects it."""
    connection = await asyncpg.connect(PG_DSN)
    pgq = PgQueuer(AsyncpgDriver(connection))

    @pgq.entrypoint("noop")  # type: ignore[misc,unused-ignore]
    async def noop(job: Job) -> None:
        job_done()

    @pgq.entrypoint("probe")  # type: ignore[misc,unused-ignore]
    async def probe(job: Job) -> None:
        job_started(int(job.payload or b"0"))

    try:
        yield pgq
    finally:
        await connection.close()


class PgQueuerPeer(AsyncPeer):
    name = "pgqueuer"
    store = "postgres"
    package = "pgqueuer"
    config = __doc__ or ""

    def __init__(self) -> None:
        super().__init__()
        self.connection = self.run(asyncpg.connect(PG_DSN))
        self.queries = Queries(AsyncpgDriver(self.connection))
        if not self.run(self.queries.has_table("pgqueuer")):
            self.run(self.queries.install())

    def setup(self) -> None:
        self.run(self.connection.execute("TRUNCATE pgqueuer, pgqueuer_log"))

    def enqueue(self, n: int) -> None:
        async def go() -> None:
            enqueue = self.queries.enqueue
            for _ in range(n):
                await enqueue("noop", None)

        self.run(go())

    def enqueue_bulk(self, n: int, chunk: int) -> None:
        async def go() -> None:
            for first in range(0, n, chunk):
                size = min(chunk, n - first)
                await self.queries.enqueue(["noop"] * size, [None] * size, [0] * size)

        self.run(go())

    def enqueue_probe(self, sample: int) -> None:
        self.run(self.queries.enqueue("probe", str(sample).encode()))

    def queued(self) -> int:
        query = "SELECT count(*) FROM pgqueuer WHERE status = 'queued'"
        return int(self.run(self.connection.fetchval(query)))

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "pgqueuer", "run", "bench.peers.pgqueuer_bench:create_pgqueuer",
            "--batch-size", "10",
        ]  # fmt: skip

    def close(self) -> None:
        self.run(self.connection.close())
        super().close()


VARIANTS = ["default"]


def make(variant: str) -> PgQueuerPeer:
    return PgQueuerPeer()
