"""The drain child: one burst worker on ``bench.apps``, timed from inside.

Run by ``bench/throughput.py`` as ``python -m bench.drain_worker`` with
``$CONVEYOR_URL`` set and the repository root on ``PYTHONPATH``. Prints one
JSON object on stdout:

- ``ready_at``: wall-clock time just before ``Worker.run()`` (after the
  interpreter started, imports ran and the store opened), so the parent can
  tell process start-up apart from draining;
- ``first_claim_to_exit``: seconds from the start of the first claim that
  returned jobs to the return of ``Worker.run()`` (burst exit, shutdown
  included);
- ``first_claim_to_last_finish``: the same, ending when the last batch of
  outcomes was stored;
- ``run_seconds``: the whole ``Worker.run()`` call;
- the worker's stats, and how many claim and finish round trips it made.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, cast

from conveyor import Conveyor, Worker
from conveyor.job import JobRecord, Outcome
from conveyor.stores import Store


class TimedStore:
    """Passes every call through to a store, noting when claims and finishes happen."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.first_claim: float | None = None
        self.last_finish: float | None = None
        self.claims = 0
        self.claimed = 0
        self.finishes = 0

    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float
    ) -> list[JobRecord]:
        started = time.perf_counter()
        records = self._inner.claim(queues, worker, limit, lease)
        self.claims += 1
        self.claimed += len(records)
        if records and self.first_claim is None:
            self.first_claim = started
        return records

    def finish(self, outcomes: Sequence[Outcome]) -> int:
        applied = self._inner.finish(outcomes)
        self.finishes += 1
        self.last_finish = time.perf_counter()
        return applied

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="bench.apps", help="module holding `app`")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args(argv)

    app = cast(Conveyor, importlib.import_module(args.app).app)
    worker = Worker(app, concurrency=args.concurrency, burst=True)
    timed = TimedStore(worker.store)
    worker.store = cast(Store, timed)

    ready_at = time.time()
    started = time.perf_counter()
    stats = worker.run()
    exited = time.perf_counter()
    app.close()

    first = timed.first_claim if timed.first_claim is not None else exited
    last = timed.last_finish if timed.last_finish is not None else exited
    report = {
        "ready_at": ready_at,
        "run_seconds": exited - started,
        "first_claim_to_exit": exited - first,
        "first_claim_to_last_finish": last - first,
        "claims": timed.claims,
        "claimed": timed.claimed,
        "finishes": timed.finishes,
        "succeeded": stats.succeeded,
        "retried": stats.retried,
        "dead": stats.dead,
        "handed_back": stats.handed_back,
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
