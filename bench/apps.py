"""The benchmark's app: one no-op task, on the store named by ``$CONVEYOR_URL``.

The drain child imports this module by name (``bench.apps``) and runs a worker
on `app`; the parent builds its own app per run with `register`. The task has
an explicit name so both sides agree whatever the module is imported as.
"""

from __future__ import annotations

import os

from conveyor import Conveyor, Task

NOOP = "bench.noop"


def register(app: Conveyor) -> Task[[], None]:
    """Register the no-op task on `app` and return it."""

    @app.task(name=NOOP)
    def noop() -> None:
        """Does nothing: the benchmark measures the queue, not the work."""

    return noop


app = Conveyor(os.environ.get("CONVEYOR_URL"))
noop = register(app)
