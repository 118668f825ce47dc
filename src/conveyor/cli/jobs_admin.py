"""``conveyor jobs retry``, ``cancel`` and ``purge``: the operator's writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from conveyor.cli._loader import load_app
from conveyor.cli.jobs_view import STATE_CHOICE
from conveyor.job import JobState
from conveyor.stores.base import Store

#: Rows per store round trip when paging or deleting: big enough to be fast,
#: small enough that no single transaction holds the store for long.
BATCH = 1000


def progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dead_ids(store: Store, queue: str | None) -> list[str]:
    """Every dead job's id, read before any is replayed: replaying moves jobs out
    of the dead set, so paging through it while changing it would skip some."""
    ids: list[str] = []
    while page := store.list(states={JobState.DEAD}, queue=queue, limit=BATCH, offset=len(ids)):
        ids.extend(record.id for record in page)
        if len(page) < BATCH:
            break
    return list(dict.fromkeys(ids))


def replay_ids(store: Store, job_ids: Sequence[str]) -> None:
    """Requeue the named jobs; say why for each that is not dead, and exit 1 then."""
    refused = []
    for job_id in job_ids:
        record = store.get(job_id)
        if record is None:
            refused.append(f"no job with id {job_id!r}")
        elif record.state is not JobState.DEAD:
            refused.append(f"job {job_id} is {record.state}, not dead")
    requeued = store.requeue_dead(job_ids)
    click.echo(f"requeued {requeued} of {len(job_ids)} job(s)")
    for message in refused:
        click.echo(f"error: {message}", err=True)
    if refused:
        raise SystemExit(1)


@click.command()
@click.argument("app")
@click.argument("job_ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Replay every dead job (of --queue, if given).")
@click.option("-q", "--queue", help="With --all-dead: only this queue's dead jobs.")
def retry(app: str, job_ids: tuple[str, ...], all_dead: bool, queue: str | None) -> None:
    """Replay dead jobs of APP: back to queued with fresh attempts, errors kept."""
    if bool(job_ids) == all_dead:
        raise click.UsageError("give job ids or --all-dead (one of the two)")
    if queue and not all_dead:
        raise click.UsageError("--queue goes with --all-dead")
    store = load_app(app).store
    console = Console(stderr=True)
    if job_ids:
        replay_ids(store, job_ids)
        return
    ids = dead_ids(store, queue)
    if not ids:
        click.echo("no dead jobs" + (f" in queue {queue!r}" if queue else ""))
        return
    requeued = 0
    with progress(console) as bar:
        task = bar.add_task("requeueing dead jobs", total=len(ids))
        for batch in chunks(ids, BATCH):
            requeued += store.requeue_dead(batch)
            bar.advance(task, len(batch))
    click.echo(f"requeued {requeued} dead job(s)")


@click.command()
@click.argument("app")
@click.argument("job_ids", nargs=-1, required=True)
def cancel(app: str, job_ids: tuple[str, ...]) -> None:
    """Cancel jobs of APP that have not started (scheduled or queued)."""
    store = load_app(app).store
    failed = 0
    for job_id in job_ids:
        if store.cancel(job_id):
            click.echo(f"cancelled {job_id}")
            continue
        failed += 1
        record = store.get(job_id)
        if record is None:
            click.echo(f"error: no job with id {job_id!r}", err=True)
        else:
            click.echo(f"error: job {job_id} is {record.state}; only scheduled or queued "
                       "jobs can be cancelled", err=True)  # fmt: skip
    if failed:
        raise SystemExit(1)


@click.command()
@click.argument("app")
@click.option(
    "-s",
    "--state",
    "states",
    type=STATE_CHOICE,
    multiple=True,
    required=True,
    help="Delete jobs in this state (repeatable).",
)
@click.option("-q", "--queue", help="Only jobs of this queue.")
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Only jobs that finished at least this long ago.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(
    app: str, states: tuple[str, ...], queue: str | None, older_than: float | None, yes: bool
) -> None:
    """Delete jobs of APP for good, in batches of 1000."""
    chosen = {JobState(s) for s in states}
    if older_than is not None and chosen - {JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED}:
        raise click.UsageError("--older-than applies to finished jobs (succeeded, dead, cancelled)")
    store = load_app(app).store
    at_most = sum(
        n
        for stats in store.counts()
        if queue is None or stats.queue == queue
        for state, n in stats.counts.items()
        if state in chosen
    )
    if at_most == 0:
        click.echo("nothing to delete")
        return
    what = "/".join(sorted(s.value for s in chosen)) + " jobs"
    where = f" in queue {queue!r}" if queue else ""
    age_note = f" finished more than {older_than:g}s ago" if older_than is not None else ""
    if not yes:
        click.confirm(
            f"Delete {what}{where}{age_note} (up to {at_most})? This cannot be undone",
            abort=True,
        )
    deleted = 0
    with progress(Console(stderr=True)) as bar:
        task = bar.add_task(f"deleting {what}", total=at_most)
        while True:
            n = store.purge(chosen, queue=queue, older_than=older_than, limit=BATCH)
            deleted += n
            bar.update(task, completed=min(deleted, at_most))
            if n < BATCH:
                break
        bar.update(task, total=deleted, completed=deleted)  # the filter may match fewer
    click.echo(f"deleted {deleted} job(s)")
