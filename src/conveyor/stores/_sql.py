"""Named SQL files: every statement a SQL store runs lives in a .sql file beside it."""

from __future__ import annotations

from functools import cache
from importlib import resources


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
