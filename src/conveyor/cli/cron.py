"""``conveyor cron list``: the app's periodic schedules, when each fires next
and when it last fired (as recorded in the store, so for every worker)."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.table import Table

from conveyor.app import Conveyor
from conveyor.cli._format import make_console, moment
from conveyor.cli._loader import load_app
from conveyor.periodic import Schedule
from conveyor.stores import redact


@click.group()
def cron() -> None:
    """Periodic schedules (``@app.periodic``)."""


def schedule_rows(app: Conveyor, now: float) -> list[dict[str, Any]]:
    """One entry per schedule, read once, rendered as a table or as JSON."""
    schedules = sorted(app.schedules.values(), key=lambda s: s.name)
    fired = app.store.fired([s.name for s in schedules]) if schedules else {}
    return [_row(s, now, fired.get(s.name)) for s in schedules]


def _row(schedule: Schedule, now: float, last: float | None) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "schedule": schedule.describe(),
        "expression": schedule.expression,
        "cron": schedule.cron.expression if schedule.cron is not None else None,
        "every_seconds": None if schedule.every is None else float(schedule.every),
        "timezone": schedule.zone.key,
        "missed": schedule.missed,
        "queue": schedule.task.default_options.queue,
        "next_fire": float(schedule.next_after(now)),
        "last_fire": last,
    }


@cron.command("list")
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print the schedules as JSON, for scripts.")
def list_schedules(app: str, as_json: bool) -> None:
    """The periodic schedules of APP: when each fires next, and last fired."""
    conveyor_app = load_app(app)
    now = time.time()
    rows = schedule_rows(conveyor_app, now)
    if as_json:
        payload = {"url": redact(conveyor_app.url), "taken_at": now, "schedules": rows}
        click.echo(json.dumps(payload, indent=2))
        return
    console = make_console()
    if not rows:
        console.print(f"[dim]{app} has no periodic schedules (see @app.periodic)[/]")
        return
    table = Table(title=f"periodic schedules on {redact(conveyor_app.url)}", title_justify="left")
    table.add_column("name", style="bold", overflow="fold")
    table.add_column("schedule")
    table.add_column("expression", style="dim")
    table.add_column("time zone")
    table.add_column("queue")
    table.add_column("next fire")
    table.add_column("last fire")
    for row in rows:
        last = row["last_fire"]
        table.add_row(
            row["name"],
            row["schedule"],
            row["expression"],
            row["timezone"],
            row["queue"],
            moment(row["next_fire"], now),
            "[dim]never[/]" if last is None else moment(last, now),
        )
    console.print(table)
