"""``conveyor status``: what is queued where, how fast it moves, and who works on it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from conveyor.app import Conveyor
from conveyor.cli._format import STATE_STYLE, duration, make_console
from conveyor.cli._loader import load_app
from conveyor.job import JobState
from conveyor.stores import redact
from conveyor.stores.base import QueueStats, WorkerInfo


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything `status` shows, read once, rendered as a table or as JSON."""

    url: str
    queues: list[QueueStats]
    totals: QueueStats
    workers: list[WorkerInfo]
    worker_ttl: float
    taken_at: float
    #: Queues no worker claims from until resumed (`conveyor queues pause`).
    paused: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "taken_at": self.taken_at,
            "queues": [{**_queue_json(q), "paused": q.queue in self.paused} for q in self.queues],
            "totals": _queue_json(self.totals),
            "workers": [
                {
                    "id": w.id,
                    "hostname": w.hostname,
                    "pid": w.pid,
                    "queues": list(w.queues),
                    "concurrency": w.concurrency,
                    "started_at": w.started_at,
                    "last_seen": w.last_seen,
                    "up_seconds": round(self.taken_at - w.started_at, 3),
                }
                for w in self.workers
            ],
        }


def _queue_json(stats: QueueStats) -> dict[str, Any]:
    return {
        "queue": stats.queue,
        "counts": {state.value: stats.counts.get(state, 0) for state in JobState},
        "oldest_wait_seconds": round(stats.oldest_wait, 3),
        "finished_last_minute": stats.finished_last_minute,
    }


def snapshot(app: Conveyor) -> Snapshot:
    """Read the figures; queues of the app's tasks, and paused queues, show even
    before they hold a job."""
    store = app.store
    paused = frozenset(store.paused())
    by_name = {stats.queue: stats for stats in store.counts()}
    for name in (*app.queues(), *paused):
        by_name.setdefault(name, QueueStats(queue=name))
    queues = [by_name[name] for name in sorted(by_name)]
    totals = QueueStats(
        queue="total",
        counts={state: sum(q.counts.get(state, 0) for q in queues) for state in JobState},
        oldest_wait=max((q.oldest_wait for q in queues), default=0.0),
        finished_last_minute=sum(q.finished_last_minute for q in queues),
    )
    ttl = 2 * app.settings.lease
    return Snapshot(
        url=redact(app.url),
        queues=queues,
        totals=totals,
        workers=store.workers(ttl=ttl),
        worker_ttl=ttl,
        taken_at=time.time(),
        paused=paused,
    )


def queue_table(snap: Snapshot) -> Table:
    table = Table(title=f"queues on {snap.url}", title_justify="left", show_footer=True)
    table.add_column("queue", footer="total", style="bold")
    for state in JobState:
        table.add_column(
            state.value,
            footer=str(snap.totals.counts.get(state, 0)),
            justify="right",
            header_style=STATE_STYLE[state],
        )
    table.add_column("oldest wait", footer=_wait(snap.totals.oldest_wait), justify="right")
    table.add_column("jobs/min", footer=str(snap.totals.finished_last_minute), justify="right")
    for stats in snap.queues:
        cells = [_count(stats.counts.get(state, 0), STATE_STYLE[state]) for state in JobState]
        table.add_row(
            queue_name(stats.queue, snap.paused),
            *cells,
            _wait(stats.oldest_wait),
            str(stats.finished_last_minute),
        )
    return table


def queue_name(name: str, paused: frozenset[str]) -> str:
    """The name, marked when the queue is paused: its jobs wait on purpose."""
    return f"{escape(name)} [yellow](paused)[/]" if name in paused else escape(name)


def worker_table(snap: Snapshot) -> Table:
    table = Table(
        title=f"workers alive ({len(snap.workers)}, seen in the last {duration(snap.worker_ttl)})",
        title_justify="left",
    )
    for name in ("id", "host", "pid", "queues", "concurrency", "up for"):
        table.add_column(name, justify="right" if name in ("pid", "concurrency") else "left")
    for w in snap.workers:
        table.add_row(
            w.id,
            w.hostname,
            str(w.pid),
            ",".join(w.queues),
            str(w.concurrency),
            duration(snap.taken_at - w.started_at),
        )
    return table


def _count(n: int, style: str) -> str:
    return f"[{style}]{n}[/]" if n else "[dim]0[/]"


def _wait(seconds: float) -> str:
    return duration(seconds) if seconds > 0 else "-"


@click.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON, for scripts.")
def status(app: str, as_json: bool) -> None:
    """Queues of APP with their jobs by state, wait and rate, and the workers alive."""
    snap = snapshot(load_app(app))
    if as_json:
        click.echo(json.dumps(snap.to_json(), indent=2))
        return
    console = make_console()
    console.print(queue_table(snap))
    if snap.workers:
        console.print(worker_table(snap))
    else:
        console.print(
            f"[yellow]no workers alive[/] (none seen in the last {duration(snap.worker_ttl)})"
        )
