"""Chaos: thousands of jobs while worker processes are SIGKILLed at random and
the store's server is restarted; no job may be lost.

Per shared store (SQLite, Redis, PostgreSQL):

1. Three ``conveyor worker`` processes (``--concurrency 8``, lease 2 s) start.
2. A producer enqueues the jobs in small batches spread over 40 s. Each job
   sleeps a few to a few hundred milliseconds and notes its start and end in
   a ledger outside conveyor (`tests.apps.chaos_app`).
3. Meanwhile, every 1-2 s (seeded RNG) a random worker is SIGKILLed and a
   fresh one started in its place; at 40 % of the way the store's server goes
   down for 3 s, longer than the lease (Redis: SIGKILL, then started again
   from its AOF; PostgreSQL: ``pg_ctlcluster`` stop and start; SQLite, which
   has no server: every worker SIGKILLed at once).
4. Drain: the kills stop and the surviving workers run until every job has
   succeeded; then they are stopped with SIGTERM.

It then checks that every job ended ``succeeded`` and ran to its end at least
once by the ledger, that no job ran more often than the store counted
attempts, and that no running worker died of the faults; and reports
duplicates, recovery times (kill to the next start of each job the kill cut
short), run time and throughput.

Run: ``.venv/bin/pytest -m chaos -s`` (see docs/reliability.md for the knobs).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conveyor import Conveyor, JobState
from conveyor.job import JobRecord
from conveyor.stores.base import Store
from tests.apps.chaos_app import register
from tests.backends import SHARED_BACKENDS, Backend, backend_params
from tests.chaos.harness import ChaosSettings, Producer, WorkerPool, plan_jobs
from tests.chaos.ledger import Figures, analyse, read_ledger
from tests.chaos.servers import Server, Target, chaos_target

pytestmark = pytest.mark.chaos

REPORT_ENV = "CONVEYOR_CHAOS_REPORT"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(
    params=backend_params([b for b in SHARED_BACKENDS if pytest.mark.cluster not in b.marks])
)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Overrides the conftest fixture: shared stores only, whose servers the
    run can stop and start (not the cluster `tests.redis_cluster` starts)."""
    return request.param  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Fault:
    """The one store-level fault of a run."""

    what: str
    #: Seconds into the run when it began, and how long until the store answered again.
    at: float
    outage: float
    server_restarts: int


def store_fault(
    pool: WorkerPool, server: Server | None, down_for: float, run_started: float
) -> Fault:
    began = time.monotonic()
    if server is None:
        pool.kill_all()
        what, restarts = "every worker SIGKILLed at once", 0
    else:
        server.restart(down_for)
        what, restarts = server.describe(down_for), 1
    return Fault(what, began - run_started, time.monotonic() - began, restarts)


def inject_chaos(
    pool: WorkerPool,
    producer: Producer,
    server: Server | None,
    settings: ChaosSettings,
    rng: random.Random,
    run_started: float,
) -> Fault | None:
    """Kill a random worker every `kill_every` seconds, and fault the store once
    at 40 % of the enqueue period, for as long as the producer runs."""
    fault_at = run_started + 0.4 * settings.enqueue_seconds
    next_kill = run_started + rng.uniform(*settings.kill_every)
    fault = None
    while producer.is_alive():
        pool.replace_exited()
        now = time.monotonic()
        if fault is None and now >= fault_at:
            fault = store_fault(pool, server, settings.outage, run_started)
        elif now >= next_kill:
            pool.kill_random(rng)
            next_kill = now + rng.uniform(*settings.kill_every)
        producer.join(timeout=0.05)
    return fault


def succeeded_count(store: Store) -> tuple[int, int]:
    """(succeeded, all jobs) across every queue."""
    stats = store.counts()
    succeeded = sum(queue.counts.get(JobState.SUCCEEDED, 0) for queue in stats)
    return succeeded, sum(sum(queue.counts.values()) for queue in stats)


def drain(store: Store, pool: WorkerPool, jobs: int, deadline: float) -> float | None:
    """Poll until every job has succeeded; when that was, or None at the deadline.
    Workers that exit meanwhile are replaced, as a supervisor would."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        pool.replace_exited()
        if succeeded_count(store) == (jobs, jobs):
            return time.monotonic()
        time.sleep(0.1)
    return None


def source_commit() -> str:
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        except OSError:
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" + local changes in src/" if git("status", "--porcelain", "src") else "")


def describe(number: int, record: JobRecord | None) -> str:
    if record is None:
        return f"job {number}: missing from the store"
    errors = ",".join(error.type for error in record.errors)
    return (
        f"job {number} {record.id}: {record.state.value} attempt={record.attempt} "
        f"reason={record.reason} worker={record.worker} lease_expires_at="
        f"{record.lease_expires_at} errors=[{errors}]"
    )


def seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def run_chaos(
    store_name: str, target: Target, settings: ChaosSettings, directory: Path
) -> dict[str, Any]:
    plan = plan_jobs(settings.jobs, random.Random(settings.seed))
    chaos_rng = random.Random(f"{settings.seed}:kills")
    ledger_path = directory / "executions.ledger"
    pool = WorkerPool(target.url, settings, directory)
    producer = Producer(target.url, plan, ledger_path, settings.enqueue_seconds)
    inspector = register(Conveyor(target.url))
    try:
        pool.start()
        run_started = time.monotonic()
        producer.start()
        fault = inject_chaos(pool, producer, target.server, settings, chaos_rng, run_started)
        producer.join()
        if producer.failure is not None:
            raise producer.failure
        chaos_ended = time.monotonic()
        drained_at = drain(inspector.store, pool, settings.jobs, settings.drain_deadline)
        not_started = pool.wait_until_started(timeout=30)
        exit_codes = pool.stop(timeout=30)
        records = {n: inspector.store.get(job_id) for n, job_id in producer.ids.items()}
    finally:
        pool.close()
        inspector.close()

    ledger = read_ledger(ledger_path)
    figures = analyse(ledger, range(settings.jobs), pool.kills)
    return build_report(
        store_name,
        settings,
        figures=figures,
        ledger_runs={n: len(runs) for n, runs in ledger.executions.items()},
        malformed_lines=ledger.malformed_lines,
        records=records,
        pool=pool,
        producer=producer,
        fault=fault,
        exit_codes=exit_codes,
        not_started=not_started,
        timing=(run_started, chaos_ended, drained_at),
    )


def build_report(
    store_name: str,
    settings: ChaosSettings,
    *,
    figures: Figures,
    ledger_runs: dict[int, int],
    malformed_lines: int,
    records: dict[int, JobRecord | None],
    pool: WorkerPool,
    producer: Producer,
    fault: Fault | None,
    exit_codes: dict[int, int | None],
    not_started: list[int],
    timing: tuple[float, float, float | None],
) -> dict[str, Any]:
    run_started, chaos_ended, drained_at = timing
    states = Counter(
        "missing" if record is None else record.state.value for record in records.values()
    )
    not_succeeded = [
        describe(number, record)
        for number, record in sorted(records.items())
        if record is None or record.state is not JobState.SUCCEEDED
    ]
    attempts = {n: record.attempt for n, record in records.items() if record is not None}
    overruns = [
        f"job {n}: {ledger_runs.get(n, 0)} executions, {attempt} attempts counted"
        for n, attempt in sorted(attempts.items())
        if ledger_runs.get(n, 0) > attempt
    ]
    wrong_results = [
        n
        for n, record in records.items()
        if record is not None
        and record.state is JobState.SUCCEEDED
        and json.loads(record.result or "null") != n
    ]
    run_s = None if drained_at is None else drained_at - run_started
    return {
        "store": store_name,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "source": source_commit(),
        "seed": settings.seed,
        "jobs": settings.jobs,
        "enqueued": len(records),
        "workers": settings.workers,
        "concurrency": settings.concurrency,
        "lease_s": settings.lease,
        "enqueue_period_s": settings.enqueue_seconds,
        "workers_killed": len(pool.kills),
        "random_kills": sum(kill.what == "random" for kill in pool.kills),
        "worker_processes_started": len(pool.all),
        "store_fault": None if fault is None else fault.what,
        "store_fault_at_s": None if fault is None else seconds(fault.at),
        "store_outage_s": None if fault is None else seconds(fault.outage),
        "server_restarts": 0 if fault is None else fault.server_restarts,
        "final_states": dict(states),
        "lost": len(not_succeeded),
        "not_succeeded": not_succeeded[:20],
        **figures.summary(),
        "jobs_never_completed_list": figures.never_completed[:20],
        "attempts_max": max(attempts.values(), default=0),
        "claims_without_start": sum(
            max(0, attempt - ledger_runs.get(n, 0)) for n, attempt in attempts.items()
        ),
        "executions_beyond_attempts": overruns[:20],
        "wrong_results": wrong_results[:20],
        "ledger_malformed_lines": malformed_lines,
        "enqueue_errors": dict(producer.errors),
        "enqueue_batches_stored_despite_error": producer.indeterminate_batches,
        "worker_exits_at_start": sum(not worker_exit.had_started for worker_exit in pool.exits),
        "worker_start_failures": pool.start_failures()[:5],
        "worker_exits_while_running": [
            f"pid {worker_exit.pid} status {worker_exit.code}:\n{worker_exit.stderr_tail}"
            for worker_exit in pool.exits
            if worker_exit.had_started
        ],
        "worker_tracebacks": pool.tracebacks()[:5],
        "workers_not_started_at_stop": not_started,
        "sigterm_exit_codes": sorted(exit_codes.values(), key=str),
        "drained": drained_at is not None,
        "chaos_s": seconds(chaos_ended - run_started),
        "drain_s": seconds(None if drained_at is None else drained_at - chaos_ended),
        "run_s": seconds(run_s),
        "throughput_jobs_per_s": None if not run_s else round(settings.jobs / run_s, 1),
    }


def problems_in(report: dict[str, Any]) -> list[str]:
    problems = []
    if not report["drained"]:
        problems.append("jobs still unfinished at the drain deadline")
    if report["lost"] or report["enqueued"] != report["jobs"]:
        problems.append(f"{report['lost']} job(s) did not end succeeded")
    if report["jobs_never_completed"]:
        problems.append(f"{report['jobs_never_completed']} job(s) never ran to their end")
    if report["executions_beyond_attempts"]:
        problems.append("jobs ran more often than the store counted attempts")
    if report["wrong_results"]:
        problems.append("succeeded jobs with a result not their own")
    if report["worker_exits_while_running"]:
        problems.append("running workers exited on their own")
    if report["workers_not_started_at_stop"]:
        problems.append("replacement workers could not start after the drain")
    if any(code != 0 for code in report["sigterm_exit_codes"]):
        problems.append("workers did not stop cleanly on SIGTERM")
    unexpected = [kind for kind in report["enqueue_errors"] if not kind.endswith(".StoreError")]
    if unexpected:
        problems.append(f"enqueue raised {unexpected}, not StoreError")
    return problems


def format_report(report: dict[str, Any]) -> str:
    width = max(len(key) for key in report)
    lines = [f"chaos report [{report['store']}]"]
    for key, value in report.items():
        if isinstance(value, list) and value and isinstance(value[0], str):
            lines.append(f"  {key:<{width}}")
            lines += [f"      {line}" for item in value for line in item.splitlines()]
        else:
            lines.append(f"  {key:<{width}}  {value}")
    return "\n".join(lines)


def publish(report: dict[str, Any], directory: Path) -> None:
    """The report beside the run's files, and merged by store into $CONVEYOR_CHAOS_REPORT."""
    (directory / "chaos-report.json").write_text(json.dumps(report, indent=2) + "\n")
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    target = Path(path)
    try:
        reports = json.loads(target.read_text()) if target.exists() else {}
    except json.JSONDecodeError:
        reports = {}
    reports[report["store"]] = report
    target.write_text(json.dumps(reports, indent=2) + "\n")


@pytest.mark.timeout(900)
def test_no_job_is_lost_under_chaos(backend: Backend, tmp_path: Path) -> None:
    settings = ChaosSettings.from_env()
    print(f"\nchaos [{backend.name}]: seed {settings.seed} (CONVEYOR_CHAOS_SEED to repeat)")
    with chaos_target(backend, tmp_path) as target:
        report = run_chaos(backend.name, target, settings, tmp_path)
    publish(report, tmp_path)
    text = format_report(report)
    print(text)

    problems = problems_in(report)
    assert not problems, "\n".join(problems) + "\n\n" + text
