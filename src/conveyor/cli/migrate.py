"""``conveyor migrate``: bring the schema of APP's store up to date, and say
which version it was at and is at now.

Stores migrate on first use anyway (PostgreSQL under an advisory lock, so
workers starting together do not race); this command lets a deploy step do it
first, for instance with an account allowed to create tables while workers run
with one that is not.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import click

from conveyor.cli._loader import load_app
from conveyor.stores import _require, redact


@click.command()
@click.argument("app")
def migrate(app: str) -> None:
    """Create or upgrade the store schema of APP; print its version before and after."""
    conveyor_app = load_app(app)
    url = conveyor_app.url
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres"):
        _require("psycopg", "postgres")
        from conveyor.stores.postgres import PostgresStore

        store = PostgresStore(url, migrate=False)
        try:
            before = store.schema_version()
            after = store.migrate()
        finally:
            store.close()
    elif scheme == "sqlite":
        before = _sqlite_version(url)
        try:
            conveyor_app.store  # noqa: B018 - opening the store migrates it
        finally:
            conveyor_app.close()
        after = _sqlite_version(url)
    else:
        click.echo(f"{redact(url)}: the {scheme} store has no schema to migrate")
        return
    note = " (up to date)" if before == after else ""
    click.echo(f"{redact(url)}: schema version {before} -> {after}{note}")


def _sqlite_version(url: str) -> int:
    """``PRAGMA user_version`` of the file, read-only; 0 if it does not exist yet."""
    from conveyor.stores.sqlite import path_from_url

    path = path_from_url(url)
    if path == ":memory:" or not Path(path).exists():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version
