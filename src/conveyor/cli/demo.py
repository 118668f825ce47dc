"""``conveyor demo``: the showcase, on the embedded SQLite store with no server."""

from __future__ import annotations

import click
from rich.console import Console

from conveyor.demo import DEFAULT_DB


@click.command()
@click.option(
    "-n",
    "--jobs",
    type=click.IntRange(min=1),
    default=3000,
    show_default=True,
    help="Jobs to enqueue.",
)
@click.option(
    "-p",
    "--processes",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes.",
)
@click.option(
    "--db",
    default=DEFAULT_DB,
    show_default=True,
    metavar="PATH",
    help="SQLite file for the demo's jobs; replaced at start.",
)
def demo(jobs: int, processes: int, db: str) -> None:
    """Enqueue a shop's worth of jobs, run them on worker processes and watch:
    retries, dead letters, priorities and delays, all in well under a minute."""
    from conveyor.demo.run import run_demo  # imports the demo's tasks: only when asked

    run_demo(Console(), jobs=jobs, processes=processes, db=db)
