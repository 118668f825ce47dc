"""Enqueue and drain rates of no-op jobs with one worker process.

Run from the repository root::

    python bench/throughput.py [--url sqlite:///tmp/bench.db] [--jobs 10000] [--runs 3]
                               [--concurrency 10] [--bulk-size 1000] [--json PATH]

Each run starts from an empty store: without ``--url``, a fresh SQLite file in
a new temporary directory; with a ``sqlite://`` URL, its file (and its -wal
and -shm files) is deleted first; any other store is purged of jobs in every
state. Each run then measures, in this order:

1. single-call enqueue: ``noop.enqueue()`` called once per job, one round
   trip each (``--single-jobs`` of them, at most 10,000 by default);
2. bulk enqueue: the store is emptied again, then ``--jobs`` jobs go in with
   ``noop.enqueue_many()`` in chunks of ``--bulk-size``;
3. drain: with exactly those ``--jobs`` jobs queued, one worker process
   (``python -m bench.drain_worker``: ``Worker(app, concurrency=C,
   burst=True)``) is started and runs until nothing is due. It is timed two
   ways: inside the child, from the start of its first claim that returned
   jobs to the return of ``Worker.run()`` (process start-up excluded); and
   from the parent, from spawning the child until ``store.counts()``, polled
   every ``--poll`` seconds, shows every job succeeded (start-up included).
   The start-up itself (spawn until ``Worker.run()`` is called) is reported
   on its own line.

Figures are jobs per second, the median over ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench.*`` importable
    sys.path.insert(0, str(ROOT))

import conveyor  # noqa: E402
from bench.apps import register  # noqa: E402
from conveyor import Conveyor, JobState, StoreError, Task  # noqa: E402
from conveyor.stores.sqlite import path_from_url  # noqa: E402

#: Single-call enqueues are one round trip each; above this, fewer are timed.
SINGLE_CAP = 10_000

ENQUEUE_SINGLE = "enqueue_single"
ENQUEUE_BULK = "enqueue_bulk"
DRAIN_WORKER = "drain_in_worker"
DRAIN_END_TO_END = "drain_end_to_end"
STARTUP = "worker_startup"


@dataclass(slots=True)
class Metric:
    key: str
    label: str
    unit: str
    runs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


# -- the store -----------------------------------------------------------


def is_sqlite(url: str) -> bool:
    return urlsplit(url).scheme == "sqlite"


def sqlite_files(url: str) -> list[Path]:
    path = Path(path_from_url(url))
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def fresh_app(url: str) -> tuple[Conveyor, Task[[], None]]:
    """An app on an empty store at `url`, with the no-op task registered."""
    if is_sqlite(url):
        if path_from_url(url) == ":memory:":
            raise SystemExit("an in-memory SQLite database cannot be shared with a worker process")
        for file in sqlite_files(url):
            file.unlink(missing_ok=True)
    app = Conveyor(url)
    noop = register(app)
    try:
        store = app.store
    except StoreError as exc:
        raise SystemExit(f"cannot open the store: {exc}") from None
    if not store.capabilities.shared:
        raise SystemExit(f"the store at {url} is not shared between processes")
    if not is_sqlite(url):
        store.purge(set(JobState))
    return app, noop


def total(app: Conveyor, state: JobState) -> int:
    return sum(stats.counts.get(state, 0) for stats in app.store.counts())


def expect(app: Conveyor, state: JobState, n: int, when: str) -> None:
    found = total(app, state)
    if found != n:
        raise SystemExit(f"{when}: expected {n} {state.value} jobs, the store has {found}")


@contextmanager
def run_url(url: str | None) -> Iterator[str]:
    """The URL of one run: `url`, or a SQLite file in a temporary directory."""
    if url is not None:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as folder:
        yield f"sqlite://{Path(folder, 'bench.db')}"


# -- the measures --------------------------------------------------------


def time_single(noop: Task[[], None], n: int) -> float:
    enqueue = noop.enqueue
    started = time.perf_counter()
    for _ in range(n):
        enqueue()
    return time.perf_counter() - started


def time_bulk(noop: Task[[], None], n: int, chunk: int) -> float:
    started = time.perf_counter()
    for first in range(0, n, chunk):
        noop.enqueue_many([()] * min(chunk, n - first))
    return time.perf_counter() - started


@dataclass(slots=True)
class Drain:
    end_to_end: float
    startup: float
    child: dict[str, Any]


def time_drain(app: Conveyor, url: str, n: int, concurrency: int, poll: float,
               limit: float) -> Drain:  # fmt: skip
    """Start one worker process on `url` and wait until it has done all `n` jobs."""
    env = dict(os.environ, CONVEYOR_URL=url)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "bench.drain_worker", "--concurrency", str(concurrency)]
    spawned_at = time.time()
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        while total(app, JobState.SUCCEEDED) < n:
            if child.poll() is not None:
                raise SystemExit(f"the worker exited ({child.returncode}) before all jobs ran")
            if time.perf_counter() - started > limit:
                raise SystemExit(f"the worker did not finish {n} jobs in {limit:.0f}s")
            time.sleep(poll)
        end_to_end = time.perf_counter() - started
        out, _ = child.communicate(timeout=limit)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if child.returncode != 0:
        raise SystemExit(f"the worker exited with status {child.returncode}")
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if report["succeeded"] != n:
        raise SystemExit(f"the worker reports {report['succeeded']} succeeded, expected {n}")
    return Drain(end_to_end, report["ready_at"] - spawned_at, report)


# -- reporting -----------------------------------------------------------


def filesystem_of(path: Path) -> str:
    """The type of the file system holding `path` (Linux only; else "unknown")."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    target = path.resolve()
    best, kind = "", "unknown"
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = point == "/" or target == Path(point) or Path(point) in target.parents
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def source_revision() -> str:
    """The commit of the source tree measured, marked when src/ has local changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} (src/ modified)" if changed else commit


def compile_sources() -> None:
    """Compile conveyor's and the benchmarks' modules to bytecode before any
    worker starts, as pip does for every package it installs. An editable
    install (conveyor's, here and in bench/.peers-venv) is never compiled, and
    where ``PYTHONDONTWRITEBYTECODE`` is set each worker process compiles
    them again at start-up: 0.15 to 0.2 s of a PostgreSQL drain, counted in
    conveyor's drain rate and in no installed peer's."""
    compileall.compile_dir(Path(conveyor.__file__).parent, quiet=1)
    for folder in (ROOT / "bench", ROOT / "bench" / "peers"):  # not bench/.peers-venv
        compileall.compile_dir(folder, maxlevels=0, quiet=1)


def describe_store(url: str | None) -> str:
    if url is None:
        return "sqlite (fresh file in a new temp dir per run, synchronous=full)"
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        return f"{parts.scheme} ({url}, purged before each run)"
    sync = parse_qs(parts.query).get("synchronous", ["full"])[0]
    return f"sqlite ({path_from_url(url)}, recreated before each run, synchronous={sync})"


def configuration(args: argparse.Namespace, single: int) -> dict[str, Any]:
    if args.url is None:
        db_dir: Path | None = Path(tempfile.gettempdir())
    elif is_sqlite(args.url):
        db_dir = Path(path_from_url(args.url)).parent
    else:
        db_dir = None
    return {
        "store": describe_store(args.url),
        "url": args.url,
        "scheme": "sqlite" if args.url is None else urlsplit(args.url).scheme,
        "filesystem": "n/a" if db_dir is None else filesystem_of(db_dir),
        "jobs": args.jobs,
        "single_call_jobs": single,
        "bulk_size": args.bulk_size,
        "concurrency": args.concurrency,
        "runs": args.runs,
        "poll": args.poll,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "conveyor": conveyor.__version__,
        "source": source_revision(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def format_value(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "jobs/s" else f"{value:.3f}"


def print_report(config: dict[str, Any], metrics: list[Metric],
                 out: Callable[[str], None] = print) -> None:  # fmt: skip
    out("conveyor throughput benchmark")
    for key in ("store", "filesystem", "jobs", "single_call_jobs", "bulk_size", "concurrency",
                "runs", "python", "conveyor", "source", "sqlite", "platform", "cpus",
                "date"):  # fmt: skip
        out(f"  {key.replace('_', ' '):<17} {config[key]}")
    out("")
    runs = len(metrics[0].runs)
    headers = ["metric", "unit", "median", *(f"run {i + 1}" for i in range(runs))]
    rows = [
        [m.label, m.unit, format_value(m.median, m.unit)]
        + [format_value(v, m.unit) for v in m.runs]
        for m in metrics
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    out(line(headers))
    out("  ".join("-" * w for w in widths))
    for row in rows:
        out(line(row))
    out("")
    out("notes:")
    out(f"  single-call enqueue times {config['single_call_jobs']:,} calls of noop.enqueue()")
    out(f"  (one round trip each); bulk enqueue times {config['jobs']:,} jobs through")
    out(f"  noop.enqueue_many() in chunks of {config['bulk_size']:,}, on an emptied store.")
    out("  drain in worker: measured inside the worker process, from the start of its first")
    out("  claim that returned jobs to the return of Worker.run() in burst mode (shutdown")
    out("  included, process start-up excluded).")
    out("  drain end to end: measured by the parent, from spawning the worker process until")
    out(f"  store.counts() (polled every {config['poll']}s) shows all jobs succeeded;")
    out("  process start-up included. worker start-up: spawn until Worker.run() is called.")


# -- main ----------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Without --url each run uses a fresh SQLite file in a temporary directory. "
        "A sqlite:// file given with --url is DELETED and recreated before each run; "
        "any other store is purged of all jobs.",
    )
    parser.add_argument("--url", help="store URL (default: a temporary SQLite file per run)")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per run (N)")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--concurrency", type=int, default=10, help="the worker's concurrency")
    parser.add_argument("--bulk-size", type=int, default=1000, help="jobs per enqueue_many call")
    parser.add_argument(
        "--single-jobs",
        type=int,
        help=f"single enqueue calls timed per run (default: N, at most {SINGLE_CAP:,})",
    )
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between counts polls")
    parser.add_argument("--timeout", type=float, default=600.0, help="drain time limit (s)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    for name in ("jobs", "runs", "concurrency", "bulk_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.single_jobs is not None and args.single_jobs < 1:
        parser.error("--single-jobs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compile_sources()
    n = args.jobs
    single = args.single_jobs or min(n, SINGLE_CAP)
    config = configuration(args, single)
    metrics = {
        ENQUEUE_SINGLE: Metric(ENQUEUE_SINGLE, f"enqueue, single calls ({single:,})", "jobs/s"),
        ENQUEUE_BULK: Metric(ENQUEUE_BULK, f"enqueue_many, chunks of {args.bulk_size:,}", "jobs/s"),
        DRAIN_WORKER: Metric(DRAIN_WORKER, "drain, in worker (first claim to exit)", "jobs/s"),
        DRAIN_END_TO_END: Metric(DRAIN_END_TO_END, "drain, end to end (spawn to done)", "jobs/s"),
        STARTUP: Metric(STARTUP, "worker start-up (spawn to run)", "s"),
    }
    details: list[dict[str, Any]] = []
    for run in range(args.runs):
        with run_url(args.url) as url:
            print(f"run {run + 1}/{args.runs} on {url} ...", file=sys.stderr, flush=True)
            app, noop = fresh_app(url)
            try:
                seconds = time_single(noop, single)
                expect(app, JobState.QUEUED, single, "after single enqueues")
                metrics[ENQUEUE_SINGLE].runs.append(single / seconds)
            finally:
                app.close()

            app, noop = fresh_app(url)
            try:
                seconds = time_bulk(noop, n, args.bulk_size)
                expect(app, JobState.QUEUED, n, "after bulk enqueue")
                metrics[ENQUEUE_BULK].runs.append(n / seconds)

                drain = time_drain(app, url, n, args.concurrency, args.poll, args.timeout)
                expect(app, JobState.SUCCEEDED, n, "after the drain")
                metrics[DRAIN_WORKER].runs.append(n / drain.child["first_claim_to_exit"])
                metrics[DRAIN_END_TO_END].runs.append(n / drain.end_to_end)
                metrics[STARTUP].runs.append(drain.startup)
                details.append({"run": run + 1, "url": url, "worker": drain.child})
            finally:
                app.close()

    print_report(config, list(metrics.values()))
    if args.json is not None:
        figures = {
            m.key: {"label": m.label, "unit": m.unit, "median": m.median, "runs": m.runs}
            for m in metrics.values()
        }
        document = {"config": config, "metrics": figures, "runs": details}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
