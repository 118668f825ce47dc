"""``conveyor queues``: list queues and pause or resume claims from one.

A pause lives in the store and every claim checks it, so it holds for every
worker at once, those started later included; enqueueing goes on meanwhile.
"""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from conveyor.cli._format import STATE_STYLE, duration, make_console
from conveyor.cli._loader import load_app
from conveyor.cli.status import snapshot
from conveyor.job import JobState

#: The states `queues list` counts: what is still to happen in a queue.
ACTIVE = (JobState.SCHEDULED, JobState.QUEUED, JobState.RUNNING)


@click.group()
def queues() -> None:
    """List queues; pause and resume claims from one."""


@queues.command("list")
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print the queues as JSON, for scripts.")
def list_queues(app: str, as_json: bool) -> None:
    """Queues of APP (its tasks' and any the store holds jobs in), paused or not."""
    snap = snapshot(load_app(app))
    if as_json:
        queues_json = snap.to_json()["queues"]
        click.echo(json.dumps({"url": snap.url, "queues": queues_json}, indent=2))
        return
    table = Table(title=f"queues on {snap.url}", title_justify="left")
    table.add_column("queue", style="bold")
    table.add_column("paused")
    for state in ACTIVE:
        table.add_column(state.value, justify="right", header_style=STATE_STYLE[state])
    table.add_column("oldest wait", justify="right")
    for stats in snap.queues:
        paused = stats.queue in snap.paused
        table.add_row(
            escape(stats.queue),
            "[yellow]yes[/]" if paused else "no",
            *(str(stats.counts.get(state, 0)) for state in ACTIVE),
            duration(stats.oldest_wait) if stats.oldest_wait > 0 else "-",
        )
    make_console().print(table)


@queues.command("pause")
@click.argument("app")
@click.argument("name")
def pause(app: str, name: str) -> None:
    """Stop every worker claiming from queue NAME of APP; jobs are still accepted."""
    conveyor_app = load_app(app)
    known = name in conveyor_app.queues() or any(
        stats.queue == name for stats in conveyor_app.store.counts()
    )
    conveyor_app.pause(name)
    click.echo(f"paused queue {name!r}: no worker claims from it until it is resumed")
    if not known:
        # Likely a typo, yet pausing a queue before its first job is legitimate.
        click.echo(f"note: no task of {app} uses queue {name!r} and it holds no job", err=True)


@queues.command("resume")
@click.argument("app")
@click.argument("name")
def resume(app: str, name: str) -> None:
    """Let workers claim from queue NAME of APP again."""
    conveyor_app = load_app(app)
    was_paused = name in conveyor_app.store.paused()
    conveyor_app.resume(name)
    if was_paused:
        click.echo(f"resumed queue {name!r}")
    else:
        click.echo(f"queue {name!r} was not paused")
