"""Reading the executions ledger and turning it, with the kills, into figures.

The ledger (written by `tests.apps.chaos_app.note`) says what really ran,
independently of the store: every execution's start, and its end if it got
there. Lines are in the order they were written (``O_APPEND``), which is
real-time order.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Execution:
    """One run of one job in one worker process."""

    job: int
    pid: int
    #: 1 for the job's first execution, 2 for the next, ...: the attempt as
    #: far as the ledger can tell (a claim lost before the task started
    #: counts an attempt in the store but leaves no line here).
    run: int
    started: float
    started_wall: float
    ended: float | None = None


@dataclass(frozen=True, slots=True)
class Kill:
    """A SIGKILL the test sent, and when (``time.monotonic()``)."""

    pid: int
    at: float
    what: str


@dataclass(slots=True)
class Ledger:
    executions: dict[int, list[Execution]] = field(default_factory=dict)
    malformed_lines: int = 0

    def all(self) -> list[Execution]:
        return [run for runs in self.executions.values() for run in runs]


def read_ledger(path: Path) -> Ledger:
    """Pair each start with the next end of the same job in the same process."""
    ledger = Ledger()
    if not path.exists():
        return ledger
    open_runs: dict[tuple[int, int], list[Execution]] = defaultdict(list)
    for line in path.read_bytes().decode(errors="replace").splitlines():
        fields = line.split()
        try:
            event, job, pid = fields[0], int(fields[1]), int(fields[2])
            mono, wall = float(fields[3]), float(fields[4])
        except (IndexError, ValueError):
            ledger.malformed_lines += 1
            continue
        runs = ledger.executions.setdefault(job, [])
        if event == "start":
            execution = Execution(job, pid, len(runs) + 1, mono, wall)
            runs.append(execution)
            open_runs[job, pid].append(execution)
        elif event == "end" and open_runs[job, pid]:
            open_runs[job, pid].pop(0).ended = mono
        else:
            ledger.malformed_lines += 1
    return ledger


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(slots=True)
class Figures:
    """What the ledger and the kills say about one run."""

    executions: int = 0
    #: Executions beyond the first of each job, and the jobs that had any.
    duplicate_executions: int = 0
    jobs_with_duplicates: int = 0
    #: Executions that reached their end beyond the first of each job
    #: (an outcome lost with its worker after the task had returned).
    duplicate_completions: int = 0
    #: Executions beyond the first whose previous run was in a process we
    #: killed after it started; the rest have another cause (a lease that
    #: expired while the store was down, say).
    duplicates_after_kill: int = 0
    max_executions_per_job: int = 0
    never_started: list[int] = field(default_factory=list)
    never_completed: list[int] = field(default_factory=list)
    #: Executions cut short by one of our kills, and those cut short otherwise.
    interrupted_by_kill: int = 0
    interrupted_otherwise: int = 0
    #: Kill of the process running an interrupted execution to the job's next start.
    recovery_times: list[float] = field(default_factory=list)
    interrupted_not_rerun: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "executions": self.executions,
            "duplicate_executions": self.duplicate_executions,
            "jobs_with_duplicates": self.jobs_with_duplicates,
            "duplicate_completions": self.duplicate_completions,
            "duplicates_after_kill": self.duplicates_after_kill,
            "duplicates_otherwise": self.duplicate_executions - self.duplicates_after_kill,
            "max_executions_per_job": self.max_executions_per_job,
            "jobs_never_started": len(self.never_started),
            "jobs_never_completed": len(self.never_completed),
            "interrupted_by_kill": self.interrupted_by_kill,
            "interrupted_otherwise": self.interrupted_otherwise,
            "interrupted_not_rerun": len(self.interrupted_not_rerun),
            "recovery_s_max": rounded(max(self.recovery_times, default=None)),
            "recovery_s_p50": rounded(percentile(self.recovery_times, 0.5)),
            "recovery_s_p95": rounded(percentile(self.recovery_times, 0.95)),
        }


def analyse(ledger: Ledger, jobs: Iterable[int], kills: Iterable[Kill]) -> Figures:
    killed_at: Mapping[int, float] = {kill.pid: kill.at for kill in kills}
    figures = Figures()
    for job in jobs:
        runs = ledger.executions.get(job, [])
        completed = [run for run in runs if run.ended is not None]
        figures.executions += len(runs)
        figures.max_executions_per_job = max(figures.max_executions_per_job, len(runs))
        if not runs:
            figures.never_started.append(job)
        if not completed:
            figures.never_completed.append(job)
        if len(runs) > 1:
            figures.duplicate_executions += len(runs) - 1
            figures.jobs_with_duplicates += 1
        figures.duplicate_completions += max(0, len(completed) - 1)
        for previous, run in itertools.pairwise(runs):
            kill_time = killed_at.get(previous.pid)
            if kill_time is not None and previous.started <= kill_time <= run.started:
                figures.duplicates_after_kill += 1
        for run in runs:
            if run.ended is not None:
                continue
            kill_time = killed_at.get(run.pid)
            if kill_time is None or kill_time < run.started:
                figures.interrupted_otherwise += 1
                continue
            figures.interrupted_by_kill += 1
            later = [other.started for other in runs if other.started > kill_time]
            if later:
                figures.recovery_times.append(min(later) - kill_time)
            else:
                figures.interrupted_not_rerun.append(job)
    return figures
