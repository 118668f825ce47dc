"""conveyor and the job queues a user would otherwise pick, side by side.

Run from the repository root, after ``bench/peers/install.sh``::

    bench/.peers-venv/bin/python bench/peers/run.py                  # everything
    bench/.peers-venv/bin/python bench/peers/run.py --store redis
    bench/.peers-venv/bin/python bench/peers/run.py --only celery,rq --runs 1

Each peer is measured by ``python -m bench.peers.measure <module>`` in its
own subprocess (with the interpreter of its environment), with a time limit,
so one broken peer cannot hang or break the run: it is tried once more
(``--retries``), then its row says why it failed; retried failures are kept
in the JSON.

The ``--runs`` are interleaved: each round measures every row once, in turn
(every other round in reverse order), and each figure is the median of a
row's rounds. This machine's speed drifts by up to a third within minutes;
measured back to back, one library's runs could all land in a slow spell and
another's in a fast one. The latency probes run in the last round.

What is measured, and how, is in bench/peers/common.py; each peer's exact
configuration is in the docstring of its module (and in the JSON).

Prints one table per store, with conveyor's ratio to the best peer on that
store for every metric, written so that above 1 means conveyor is better:
conveyor / best for rates, best / conveyor for latencies. Writes everything
to bench/peers/results/<date>.json (``--json`` to choose the path).

Services: Redis database 13 (flushed before and after each peer) and a
PostgreSQL database ``bench`` (dropped and recreated before each peer), as in
bench/peers/common.py; ``BENCH_REDIS_URL``, ``BENCH_PG_DSN`` and
``BENCH_PG_ADMIN_DSN`` (a database to connect to while ``bench`` is
recreated) override them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make ``bench.*`` importable
    sys.path.insert(0, str(ROOT))

from bench.peers.common import PG_DSN, REDIS_URL  # noqa: E402
from bench.throughput import compile_sources, source_revision  # noqa: E402

VENV = ROOT / "bench" / ".peers-venv"
RESULTS = ROOT / "bench" / "peers" / "results"
STORES = ("redis", "postgres", "sqlite")
PG_ADMIN_DSN = os.environ.get(
    "BENCH_PG_ADMIN_DSN", urlunsplit(urlsplit(PG_DSN)._replace(path="/test"))
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One row: a runner module and variant, on a store, in an environment."""

    key: str
    module: str
    variant: str
    store: str
    env: str = ""  # a sub-environment of bench/.peers-venv, for conflicting pins
    #: Options for this row only, and why (shown as a footnote).
    options: tuple[str, ...] = ()
    why: str = ""
    #: Metrics left out of this row's cells and of the ratios, and why.
    hide: tuple[str, ...] = ()
    hide_why: str = ""

    @property
    def python(self) -> Path:
        return (VENV / self.env if self.env else VENV) / "bin" / "python"

    @property
    def is_conveyor(self) -> bool:
        return self.module == "conveyor_bench"

    @property
    def runs_once(self) -> bool:
        """Whether the row sets its own ``--runs`` (measured in the last round only)."""
        return "--runs" in self.options


ENTRIES = [
    Entry("conveyor-redis", "conveyor_bench", "redis", "redis"),
    Entry("celery", "celery_bench", "threads", "redis"),
    Entry("rq", "rq_bench", "simple", "redis"),
    Entry(
        "rq-fork",
        "rq_bench",
        "fork",
        "redis",
        options=("--jobs", "2000", "--runs", "1"),
        why="RQ's forking Worker drains about 30 jobs/s here, so its drain is one run of "
        "2,000 jobs (10,000 would take about 6 minutes a run)",
        hide=("enqueue_single", "enqueue_bulk"),
        hide_why="the worker class does not change RQ's enqueue side: see the SimpleWorker row",
    ),
    Entry("dramatiq", "dramatiq_bench", "default", "redis"),
    Entry("huey", "huey_bench", "redis", "redis"),
    Entry("arq", "arq_bench", "default", "redis", env="arq"),
    Entry("taskiq", "taskiq_bench", "default", "redis", env="taskiq"),
    Entry("saq", "saq_bench", "default", "redis"),
    Entry("conveyor-postgres", "conveyor_bench", "postgres", "postgres"),
    Entry("procrastinate", "procrastinate_bench", "default", "postgres"),
    Entry("pgqueuer", "pgqueuer_bench", "default", "postgres"),
    Entry("conveyor-sqlite", "conveyor_bench", "sqlite", "sqlite"),
    Entry("huey-sqlite", "huey_bench", "sqlite", "sqlite"),
]

#: (result key, column title, higher is better)
METRICS = [
    ("enqueue_single", "enqueue single (jobs/s)", True),
    ("enqueue_bulk", "enqueue bulk (jobs/s)", True),
    ("drain", "drain, spawn to done (jobs/s)", True),
    ("drain_after_first", "drain, first job to done (jobs/s)", True),
    ("pickup_p50_ms", "pickup p50 (ms)", False),
    ("pickup_p99_ms", "pickup p99 (ms)", False),
]


# -- services ----------------------------------------------------------------


def flush_redis() -> None:
    import redis  # type: ignore[import-untyped,unused-ignore]

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def recreate_pg() -> None:
    """Drop and recreate the peers' database (its name is the path of PG_DSN)."""
    import psycopg

    name = urlsplit(PG_DSN).path.lstrip("/")
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def prepare(store: str) -> None:
    if store == "redis":
        flush_redis()
    elif store == "postgres":
        recreate_pg()


def service_versions() -> dict[str, str]:
    versions = {"sqlite": sqlite3.sqlite_version}
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        versions["redis"] = str(client.info("server")["redis_version"])
        client.close()
    except Exception as exc:  # a missing service is reported, not fatal
        versions["redis"] = f"unavailable ({exc.__class__.__name__})"
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            versions["postgres"] = str(row[0]) if row else "unknown"
    except Exception as exc:
        versions["postgres"] = f"unavailable ({exc.__class__.__name__})"
    return versions


# -- running one peer ----------------------------------------------------------


def session_members(sid: int) -> list[int]:
    """Processes in session `sid` (Linux /proc): the runner and the workers it started."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


def stop_session(process: subprocess.Popen[str]) -> None:
    """SIGTERM the runner (it stops its worker), then SIGKILL whatever is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(15)
    for pid in session_members(process.pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait()


@dataclass(slots=True)
class Outcome:
    entry: Entry
    result: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)
    #: Errors of earlier attempts that were retried (the services are shared).
    failed_attempts: list[str] = field(default_factory=list)


def run_entry(entry: Entry, common: list[str], limit: float) -> Outcome:
    outcome = Outcome(entry)
    if not entry.python.exists():
        outcome.error = f"{entry.python} is missing: run bench/peers/install.sh"
        return outcome
    try:
        prepare(entry.store)
    except Exception as exc:
        outcome.error = f"cannot prepare the {entry.store} store: {exc}"
        return outcome
    command = [
        str(entry.python), "-m", "bench.peers.measure", entry.module,
        "--variant", entry.variant, *common, *entry.options,
    ]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        stop_session(process)
        out, err = process.communicate()
        outcome.error = f"did not finish within {limit:.0f}s"
    finally:
        if process.poll() is None:
            stop_session(process)
    outcome.seconds = time.perf_counter() - started
    outcome.log = err.splitlines()
    for line in outcome.log:
        print(f"  {line}", file=sys.stderr)
    if outcome.error is None:
        lines = out.strip().splitlines()
        try:
            outcome.result = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            outcome.result = None
        if process.returncode != 0 or outcome.result is None:
            last = [line for line in outcome.log if line.strip()][-1:] or ["no output"]
            outcome.error = f"exited with status {process.returncode}: {last[0].strip()}"
            outcome.result = None
    if entry.store == "redis":
        try:
            flush_redis()
        except Exception as exc:
            print(f"  could not flush Redis: {exc}", file=sys.stderr)
    return outcome


#: Result keys with one figure per run: a row's figure is their median.
PER_RUN = ("enqueue_single", "enqueue_bulk", "drain", "drain_after_first", "startup")


def combine(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row's result from its rounds: every run's figures and their
    medians; the latency figures come from the last round, which probed."""
    result = dict(parts[-1])
    runs = {key: [value for part in parts for value in part["runs"][key]] for key in PER_RUN}
    result["runs"] = runs
    for key in PER_RUN:
        result[key] = statistics.median(runs[key]) if runs[key] else None
    result["notes"] = list(dict.fromkeys(note for part in parts for note in part["notes"]))
    result["parameters"] = {**result["parameters"], "runs": len(runs["drain"])}
    return result


def measure_rounds(entries: Sequence[Entry], args: argparse.Namespace) -> list[Outcome]:
    """Every row, round by round (see the module's docstring); a row that
    fails, retries included, is not measured again."""
    common = ["--jobs", str(args.jobs), "--single", str(args.single), "--chunk", str(args.chunk)]
    parts: dict[str, list[dict[str, Any]]] = {entry.key: [] for entry in entries}
    outcomes = {entry.key: Outcome(entry) for entry in entries}
    for round_ in range(args.runs):
        last = round_ == args.runs - 1
        order = entries if round_ % 2 == 0 else list(reversed(entries))
        for index, entry in enumerate(order):
            outcome = outcomes[entry.key]
            if outcome.error is not None or (entry.runs_once and not last):
                continue
            samples = args.samples if last else 0
            options = [*common, "--runs", "1", "--samples", str(samples)]
            for attempt in range(args.retries + 1):
                again = f", attempt {attempt + 1}" if attempt else ""
                print(f"[round {round_ + 1}/{args.runs}, {index + 1}/{len(order)}] "
                      f"{entry.key}{again}", file=sys.stderr, flush=True)  # fmt: skip
                measured = run_entry(entry, options, args.limit)
                outcome.seconds += measured.seconds
                if measured.error is None:
                    assert measured.result is not None
                    parts[entry.key].append(measured.result)
                    break
                print(f"  FAILED: {measured.error}", file=sys.stderr, flush=True)
                outcome.failed_attempts.append(measured.error)
            else:
                outcome.error = outcome.failed_attempts.pop()
    for entry in entries:
        outcome = outcomes[entry.key]
        if outcome.error is None and parts[entry.key]:
            outcome.result = combine(parts[entry.key])
    return list(outcomes.values())


# -- the report ------------------------------------------------------------------


def best_peer(outcomes: Sequence[Outcome], key: str, higher: bool) -> tuple[float, str] | None:
    values = [
        (float(o.result[key]), o.result["name"])
        for o in outcomes
        if not o.entry.is_conveyor
        and key not in o.entry.hide
        and o.result is not None
        and o.result.get(key) is not None
    ]
    if not values:
        return None
    return max(values) if higher else min(values)


def ratios(outcomes: Sequence[Outcome]) -> dict[str, dict[str, Any]]:
    """Per metric: conveyor's value, the best peer's, and the ratio (above 1: conveyor better)."""
    conveyor = next((o for o in outcomes if o.entry.is_conveyor and o.result), None)
    table: dict[str, dict[str, Any]] = {}
    for key, _, higher in METRICS:
        best = best_peer(outcomes, key, higher)
        mine = conveyor.result.get(key) if conveyor and conveyor.result else None
        ratio = None
        if best is not None and mine:
            ratio = mine / best[0] if higher else best[0] / mine
        table[key] = {
            "conveyor": mine,
            "best_peer": best[1] if best else None,
            "best_value": best[0] if best else None,
            "ratio": ratio,
        }
    return table


def cell(value: Any, key: str) -> str:
    if value is None:
        return "—"
    if key.endswith("_ms"):
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:,.0f}"


def render(store: str, outcomes: Sequence[Outcome], versions: dict[str, str]) -> list[str]:
    title = {"redis": "Redis", "postgres": "PostgreSQL", "sqlite": "SQLite"}[store]
    lines = [f"### {title} {versions.get(store, '')}".rstrip(), ""]
    header = ["library", "version", *(title for _, title, _ in METRICS)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|---|" + "---:|" * len(METRICS))
    footnotes: list[str] = []

    def mark(text: str) -> str:
        if text not in footnotes:
            footnotes.append(text)
        return f"[{footnotes.index(text) + 1}]"

    for o in outcomes:
        if o.result is None:
            name = f"{o.entry.key} {mark(f'{o.entry.key}: {o.error}')}"
            lines.append(f"| {name} | | " + " | ".join("failed" for _ in METRICS) + " |")
            continue
        r = o.result
        name = f"**{r['name']}**" if o.entry.is_conveyor else r["name"]
        if o.entry.why:
            name += " " + mark(f"{r['name']}: {o.entry.why}")
        cells = []
        for key, _, _ in METRICS:
            if key in o.entry.hide:
                cells.append("— " + mark(f"{r['name']}: {o.entry.hide_why}"))
                continue
            text = cell(r.get(key), key)
            if key == "enqueue_bulk" and r.get(key) is None and r.get("no_bulk"):
                text += " " + mark(r["no_bulk"])
            cells.append(text)
        lines.append(f"| {name} | {r['version']} | " + " | ".join(cells) + " |")
    table = ratios(outcomes)
    if any(o.entry.is_conveyor and o.result for o in outcomes):
        cells = []
        for key, _, _ in METRICS:
            ratio = table[key]["ratio"]
            cells.append("—" if ratio is None else f"{ratio:.2f}x")
        lines.append("| conveyor ÷ best peer | | " + " | ".join(cells) + " |")
        best = [
            f"{title}: {table[key]['best_peer']}"
            for key, title, _ in METRICS
            if table[key]["best_peer"] is not None
        ]
        lines.append("")
        lines.append("Best peer per column: " + "; ".join(best) + ".")
    if footnotes:
        lines.append("")
        lines.extend(f"[{i + 1}] {text}" for i, text in enumerate(footnotes))
    lines.append("")
    return lines


# -- main ----------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    keys = ", ".join(e.key for e in ENTRIES)
    parser.add_argument("--only", help=f"comma-separated rows or peers ({keys})")
    parser.add_argument("--store", choices=STORES, action="append", help="only these stores")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per bulk enqueue and drain")
    parser.add_argument("--single", type=int, default=10_000, help="single enqueue calls timed")
    parser.add_argument("--chunk", type=int, default=1_000, help="jobs per bulk enqueue call")
    parser.add_argument(
        "--runs", type=int, default=3, help="rounds of enqueue and drain, interleaved (median)"
    )
    parser.add_argument("--samples", type=int, default=200, help="pickup latency probes")
    parser.add_argument(
        "--limit", type=float, default=1800.0, help="seconds allowed per peer and round"
    )
    parser.add_argument(
        "--retries", type=int, default=1, help="attempts more for a peer that fails (default 1)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="where to write the results")
    parser.add_argument("--no-json", action="store_true", help="write no JSON file")
    parser.add_argument(
        "--rerender",
        type=Path,
        metavar="PATH",
        help="measure nothing: rebuild the tables and ratios of a results file",
    )
    return parser.parse_args(argv)


def select(args: argparse.Namespace) -> list[Entry]:
    chosen = ENTRIES
    if args.store:
        chosen = [e for e in chosen if e.store in args.store]
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = wanted - {e.key for e in ENTRIES} - {e.module[: -len("_bench")] for e in ENTRIES}
        if unknown:
            raise SystemExit(f"unknown peers: {', '.join(sorted(unknown))}")
        chosen = [e for e in chosen if e.key in wanted or e.module[: -len("_bench")] in wanted]
    return chosen


def summarize(
    outcomes: Sequence[Outcome], versions: dict[str, str]
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The tables, one per store, and the ratios behind them."""
    lines: list[str] = []
    by_store: dict[str, dict[str, Any]] = {}
    for store in STORES:
        rows = [o for o in outcomes if o.entry.store == store]
        if rows:
            lines.extend(render(store, rows, versions))
            by_store[store] = ratios(rows)
    return lines, by_store


def rerender(path: Path) -> int:
    """Rebuild the tables and ratios of a results file from its raw figures."""
    document = json.loads(path.read_text())
    entries = {e.key: e for e in ENTRIES}
    outcomes = [
        Outcome(
            entries[row["key"]],
            result=row["result"],
            error=row["error"],
            seconds=row["seconds"],
            failed_attempts=row.get("failed_attempts", []),
        )
        for row in document["results"]
    ]
    header = document["table"][:3]
    body, by_store = summarize(outcomes, document["machine"]["services"])
    document["ratios"] = by_store
    document["table"] = header + body
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print("\n".join(document["table"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rerender is not None:
        return rerender(args.rerender)
    entries = select(args)
    compile_sources()
    versions = service_versions()
    date = dt.datetime.now(dt.UTC)
    outcomes = measure_rounds(entries, args)

    machine = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "services": versions,
    }
    lines = [
        f"{date:%Y-%m-%d %H:%M} UTC, {machine['platform']}, {machine['cpus']} CPUs, "
        f"{machine['python']}, source {source_revision()}",
        f"jobs {args.jobs:,} (bulk and drain), single enqueue calls {args.single:,}, "
        f"bulk chunks of {args.chunk:,}, median of {args.runs} interleaved runs; "
        f"{args.samples} latency probes",
        "",
    ]
    body, by_store = summarize(outcomes, versions)
    lines.extend(body)
    print("\n".join(lines))

    if not args.no_json:
        path = args.json or RESULTS / f"{date:%Y-%m-%d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "date": date.isoformat(timespec="seconds"),
            "machine": machine,
            "source": source_revision(),
            "parameters": {
                "jobs": args.jobs,
                "single": args.single,
                "chunk": args.chunk,
                "runs": args.runs,
                "samples": args.samples,
            },
            "ratios": by_store,
            "results": [
                {
                    "key": o.entry.key,
                    "store": o.entry.store,
                    "environment": str(o.entry.python.relative_to(ROOT)),
                    "options": list(o.entry.options),
                    "note": o.entry.why or None,
                    "seconds": round(o.seconds, 1),
                    "error": o.error,
                    "failed_attempts": o.failed_attempts,
                    "result": o.result,
                }
                for o in outcomes
            ],
            "table": lines,
        }
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}",
              file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
