"""The demo's closing report: what each task came to, how long it took."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from conveyor.job import JobRecord, JobState
from conveyor.stores.base import Store

PAGE = 5000


@dataclass(slots=True)
class TaskFigures:
    jobs: int = 0
    succeeded: int = 0
    retries: int = 0
    dead: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def all_jobs(store: Store) -> list[JobRecord]:
    records: list[JobRecord] = []
    while page := store.list(limit=PAGE, offset=len(records)):
        records.extend(page)
        if len(page) < PAGE:
            break
    return records


def figures(records: list[JobRecord]) -> dict[str, TaskFigures]:
    """Per task: a retry is any attempt after the first, whatever came of it."""
    by_task: dict[str, TaskFigures] = {}
    for r in records:
        f = by_task.setdefault(r.task.rsplit(".", 1)[-1], TaskFigures())
        f.jobs += 1
        f.retries += max(0, r.attempt - 1)
        if r.state is JobState.SUCCEEDED:
            f.succeeded += 1
        elif r.state is JobState.DEAD:
            f.dead += 1
            f.reasons[r.reason or "?"] += 1
    return dict(sorted(by_task.items()))


def report(
    console: Console,
    records: list[JobRecord],
    *,
    enqueue_seconds: float,
    run_seconds: float,
    peak_rate: float,
    processes: int,
) -> None:
    by_task = figures(records)
    table = Table(title="what happened", title_justify="left", show_footer=True)
    table.add_column("task", footer="total")
    for name, style in (("jobs", ""), ("succeeded", "green"), ("retries", "yellow"),
                        ("dead", "red")):  # fmt: skip
        total = sum(getattr(f, name) for f in by_task.values())
        table.add_column(name, justify="right", style=style, footer=str(total))
    table.add_column("why dead")
    for name, f in by_task.items():
        why = ", ".join(f"{reason} x{n}" for reason, n in f.reasons.most_common())
        table.add_row(name, str(f.jobs), str(f.succeeded), str(f.retries), str(f.dead), why)
    console.print(table)
    n = len(records)
    console.print(
        f"enqueued [bold]{n}[/] jobs in {enqueue_seconds:.2f}s "
        f"({n / max(enqueue_seconds, 1e-9):,.0f}/s, bulk inserts); "
        f"ran them on {processes} worker process{'es' if processes > 1 else ''} in "
        f"[bold]{run_seconds:.1f}s[/]: [bold]{n / max(run_seconds, 1e-9):,.0f} jobs/s[/] "
        f"including delays and retry backoffs (peak {peak_rate:,.0f} jobs/s)",
        highlight=False,
        soft_wrap=True,
    )
