"""Driving the demo: a fresh database, a bulk enqueue, worker processes, a live view."""

from __future__ import annotations

import importlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from conveyor.app import Conveyor
from conveyor.demo import APP
from conveyor.demo._progress import Counter, watch
from conveyor.demo._summary import all_jobs, report
from conveyor.demo._workload import Batch, plan, slices
from conveyor.errors import ConveyorError

#: Jobs per bulk insert: one transaction each.
ENQUEUE_SLICE = 250
#: Slots per worker process: the demo's tasks mostly wait, so more than cores.
CONCURRENCY = 20
#: Files a run leaves behind, removed before the next one starts.
SUFFIXES = ("", "-wal", "-shm", "-journal", "-calls", "-calls-wal", "-calls-shm")


class DemoFailed(ConveyorError):
    """The demo could not finish (its workers died); the message says where to look."""


def say(console: Console, text: str) -> None:
    """A line as written: no wrapping at 80 columns when piped, no guessed highlights."""
    console.print(text, highlight=False, soft_wrap=True)


def fresh(db: Path) -> None:
    """Remove what an earlier run left, so every run starts from an empty store."""
    leftovers = [db.with_name(db.name + suffix) for suffix in SUFFIXES] + [log_file(db)]
    for leftover in leftovers:
        try:
            leftover.unlink(missing_ok=True)
        except OSError as exc:
            raise DemoFailed(f"cannot remove {leftover} from an earlier run: {exc}") from None


def log_file(db: Path) -> Path:
    return db.with_suffix(".log") if db.suffix != ".log" else db.with_name(db.name + ".workers")


def load_tasks(url: str) -> ModuleType:
    """Import the demo's tasks pointed at this run's database.

    The worker processes read the same ``CONVEYOR_URL`` from the environment
    they inherit, so parent and children agree on one file.
    """
    os.environ["CONVEYOR_URL"] = url
    module = importlib.import_module("conveyor.demo.tasks")
    app: Conveyor = module.app
    if app.url != url:  # imported earlier, under another URL
        app.close()
        app.url = url
    return module


def enqueue(console: Console, batches: list[Batch], total: int) -> tuple[float, dict[float, int]]:
    """Bulk-insert every job; returns the seconds it took and when delayed jobs fall due."""
    columns = (TextColumn("enqueueing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    due: dict[float, int] = {}
    started = time.monotonic()
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("enqueue", total=total)
        for batch, calls in slices(batches, ENQUEUE_SLICE):
            batch.task.options(priority=batch.priority, delay=batch.delay).enqueue_many(calls)
            if batch.delay:
                at = time.time() + batch.delay
                due[at] = due.get(at, 0) + len(calls)
            bar.advance(task, len(calls))
    return time.monotonic() - started, due


def start_workers(processes: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``conveyor worker`` in its own session: Ctrl-C reaches the demo alone, and the
    demo stops the workers gracefully rather than twice."""
    command = [
        sys.executable, "-m", "conveyor", "worker", APP,
        "--processes", str(processes),
        "--concurrency", str(CONCURRENCY),
        "--shutdown-timeout", "5",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_workers(workers: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the supervisor, which passes it on; if the supervisor itself is
    gone, to its whole process group, so no orphaned worker keeps running. Returns
    once every process of the group has exited."""
    if workers.poll() is None:
        workers.send_signal(signal.SIGTERM)
    else:
        signal_group(workers.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while signal_group(workers.pid, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
        workers.poll()  # reap the supervisor, or it lingers as a zombie in the group
    signal_group(workers.pid, signal.SIGKILL)
    workers.wait()


def signal_group(pgid: int, signum: int) -> bool:
    """Signal a process group; False when none of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def run_demo(console: Console, *, jobs: int, processes: int, db: str) -> None:
    path = Path(db).resolve()
    if "?" in str(path) or "#" in str(path):
        raise DemoFailed(f"the demo's database path cannot contain '?' or '#': {path}")
    fresh(path)
    url = f"sqlite://{path}"
    tasks = load_tasks(f"{url}?synchronous=normal")
    app: Conveyor = tasks.app
    store = app.store  # create the database now: a bad path fails before anything else
    short_names = {name.rsplit(".", 1)[-1]: task for name, task in app.tasks.items()}
    plural = "es" if processes > 1 else ""
    say(console, f"[bold]conveyor demo[/]: {jobs} jobs of {len(short_names)} tasks "
                 f"on {processes} worker process{plural}, store {escape(str(path))}")  # fmt: skip
    batches = plan(short_names, jobs)
    enqueue_seconds, due = enqueue(console, batches, jobs)
    say(console, f"enqueued {jobs} jobs in {enqueue_seconds:.2f}s")
    log_path = log_file(path)
    with log_path.open("wb") as log:
        started = time.monotonic()
        workers = start_workers(processes, log)

        def still_running() -> None:
            if workers.poll() is not None:
                raise DemoFailed(f"the workers exited with status {workers.returncode}; "
                                 f"see {log_path}")  # fmt: skip

        try:
            last = watch(console, Counter(store, jobs, due), still_running)
            run_seconds = time.monotonic() - started
        finally:
            stop_workers(workers)
    report(
        console,
        all_jobs(store),
        enqueue_seconds=enqueue_seconds,
        run_seconds=run_seconds,
        peak_rate=last.peak,
        processes=processes,
    )
    app.close()
    env = escape(f"CONVEYOR_URL={shlex.quote(url)}")
    say(console, f"\njobs are kept in [bold]{escape(str(path))}[/] "
                 f"(worker log: {escape(str(log_path))})")  # fmt: skip
    say(console, f"next: [bold]{env} conveyor status {APP}[/]")
    say(console, f"      {env} conveyor jobs list {APP} --state dead")
