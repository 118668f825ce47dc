"""``conveyor jobs list`` and ``jobs show``: reading jobs, never changing them."""

from __future__ import annotations

import json
import time

import click
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from conveyor.cli._errors import CliError
from conveyor.cli._format import age, make_console, styled_state, when
from conveyor.cli._loader import load_app
from conveyor.job import JobRecord, JobState

STATE_CHOICE = click.Choice([state.value for state in JobState], case_sensitive=False)


@click.command("list")
@click.argument("app")
@click.option(
    "-s",
    "--state",
    "states",
    type=STATE_CHOICE,
    multiple=True,
    help="Only jobs in this state (repeatable).",
)
@click.option("-q", "--queue", help="Only jobs of this queue.")
@click.option("-t", "--task", help="Only jobs of this task (its full name).")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True)
def list_jobs(
    app: str, states: tuple[str, ...], queue: str | None, task: str | None, limit: int
) -> None:
    """Jobs of APP, newest first."""
    records = load_app(app).store.list(
        states={JobState(s) for s in states}, queue=queue, task=task, limit=limit
    )
    console = make_console()
    if not records:
        console.print("[dim]no jobs match[/]")
        return
    now = time.time()
    table = Table(title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("task", overflow="fold")
    table.add_column("queue")
    table.add_column("state")
    table.add_column("attempt", justify="right")
    table.add_column("priority", justify="right")
    table.add_column("created", justify="right")
    table.add_column("reason")
    for r in records:
        table.add_row(
            r.id,
            r.task,
            r.queue,
            styled_state(r.state),
            f"{r.attempt}/{r.max_attempts}",
            str(r.priority),
            age(r.created_at, now),
            r.reason or "",
        )
    console.print(table)
    if len(records) == limit:
        console.print(f"[dim]showing the newest {limit}; raise --limit for more[/]")


@click.command("show")
@click.argument("app")
@click.argument("job_id")
def show_job(app: str, job_id: str) -> None:
    """Every field of one job of APP: payload, result and each error with its traceback."""
    record = load_app(app).store.get(job_id)
    if record is None:
        raise CliError(f"no job with id {job_id!r} (unknown, or pruned after its retention)")
    console = make_console()
    console.print(fields_table(record))
    console.print(section("payload", _json(record.payload)))
    if record.result is not None:
        console.print(section("result", _json(record.result)))
    for error in record.errors:
        heading = Text.assemble(
            (f"{error.type}: {error.message}", "red"), (f"  {when(error.at)}", "dim")
        )
        trace = Text(error.traceback.rstrip(), style="dim") if error.traceback else Text("")
        console.print(section(f"attempt {error.attempt} failed", Group(heading, trace)))


def fields_table(r: JobRecord) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, str]] = [
        ("id", r.id),
        ("task", r.task),
        ("queue", r.queue),
        ("state", styled_state(r.state)),
        ("reason", r.reason or "-"),
        ("attempt", f"{r.attempt} of {r.max_attempts}"),
        ("priority", str(r.priority)),
        ("key", r.key or "-"),
        ("timeout", "-" if r.timeout is None else f"{r.timeout:g}s"),
        ("created", when(r.created_at)),
        ("run at", when(r.run_at)),
        ("started", when(r.started_at)),
        ("finished", when(r.finished_at)),
        ("lease expires", when(r.lease_expires_at)),
        ("worker", r.worker or "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def section(title: str, body: RenderableType) -> Group:
    return Group(Text(""), Text(title, style="bold underline"), body)


def _json(text: str) -> RenderableType:
    """Pretty JSON when it parses; the raw text when it does not (that is worth seeing too)."""
    try:
        json.loads(text)
    except ValueError:
        return Text(text)
    return JSON(text)
