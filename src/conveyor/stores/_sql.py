"""Named SQL files: every statement a SQL store runs lives in a .sql file beside it."""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cache
from importlib import resources
from typing import Any

from conveyor.job import FINISHED_STATES, JobState

#: Rows one purge statement deletes at most: each batch is a short transaction
#: of its own, so pruning a large backlog never holds the table for long.
PURGE_BATCH = 5_000

#: Runs one named delete statement in a transaction of its own; its row count.
Delete = Callable[[str, dict[str, Any]], int]


@cache
def query(package: str, name: str) -> str:
    """The text of ``<package>/queries/<name>.sql``, read once."""
    return resources.files(package).joinpath("queries", f"{name}.sql").read_text("utf-8")


def migrations(package: str) -> list[tuple[int, str]]:
    """``(version, script)`` for each ``<package>/migrations/NNNN_*.sql``, in order."""
    folder = resources.files(package).joinpath("migrations")
    return sorted(
        (int(entry.name.split("_", 1)[0]), entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )


def functions(package: str) -> list[str]:
    """The scripts of ``<package>/functions/*.sql``, in name order: database
    functions defined with ``CREATE OR REPLACE``, so they can be applied again
    after any migration and a change to one is an edit of one file."""
    folder = resources.files(package).joinpath("functions")
    return [
        entry.read_text("utf-8")
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name)
        if entry.name.endswith(".sql")
    ]


def purge_in_batches(
    delete: Delete,
    states: Collection[JobState],
    *,
    queue: str | None,
    older_than: float | None,
    limit: int | None,
) -> int:
    """`Store.purge` for the SQL stores, through their ``purge`` and ``prune``
    statements, in batches of `PURGE_BATCH`.

    With `older_than`, only finished jobs qualify (only they have a finish
    time), one state at a time, oldest first: ``prune`` names the state in
    its text beside the finished states' list, which lets the plan read the
    partial index of finished jobs in order. Returns how many were deleted."""
    steps: list[tuple[str, dict[str, Any]]] = []
    if older_than is None and states:
        steps.append(("purge", {"states": [s.value for s in states], "queue": queue}))
    elif older_than is not None:
        steps.extend(
            ("prune", {"state": state.value, "queue": queue, "older_than": float(older_than)})
            for state in sorted(FINISHED_STATES.intersection(states))
        )
    total = 0
    for name, params in steps:
        while limit is None or total < limit:
            batch = PURGE_BATCH if limit is None else min(PURGE_BATCH, limit - total)
            deleted = delete(name, {**params, "limit": batch})
            total += deleted
            if deleted < batch:
                break
    return total
