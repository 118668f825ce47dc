"""Watching the demo's jobs move: a live panel on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from conveyor.job import JobState
from conveyor.stores.base import Store


@dataclass(frozen=True, slots=True)
class Tally:
    """The demo's jobs by what a person watching cares about."""

    total: int
    done: int
    dead: int
    cancelled: int
    running: int
    retrying: int
    waiting: int
    elapsed: float
    rate: float
    peak: float

    @property
    def finished(self) -> int:
        return self.done + self.dead + self.cancelled


class Counter:
    """Reads the store's counts and splits ``scheduled`` into first waits and retries.

    The counts do not say why a job is scheduled, so the scheduled jobs are
    listed and those with an attempt behind them are the retries. Past
    `EXACT_UP_TO` scheduled jobs that read costs too much to repeat several
    times a second; the split then comes from the delays the demo chose
    (a job past its delay but not yet claimed counts as a retry for a moment).
    """

    EXACT_UP_TO = 2000

    def __init__(self, store: Store, total: int, delayed_until: dict[float, int]) -> None:
        self.store = store
        self.total = total
        self.delayed_until = delayed_until  # epoch seconds a slice falls due -> its jobs
        self.started = time.monotonic()
        self._history: deque[tuple[float, int]] = deque(maxlen=64)
        self._peak = 0.0

    def read(self) -> Tally:
        counts: dict[JobState, int] = {state: 0 for state in JobState}
        for stats in self.store.counts():
            for state, n in stats.counts.items():
                counts[state] += n
        scheduled = counts[JobState.SCHEDULED]
        retrying = self._retrying(scheduled)
        now = time.monotonic()
        finished = counts[JobState.SUCCEEDED] + counts[JobState.DEAD]
        self._history.append((now, finished))
        while len(self._history) > 2 and now - self._history[0][0] > 2.0:
            self._history.popleft()
        then, before = self._history[0]
        rate = (finished - before) / (now - then) if now - then >= 0.5 else 0.0
        self._peak = max(self._peak, rate)
        return Tally(
            total=self.total,
            done=counts[JobState.SUCCEEDED],
            dead=counts[JobState.DEAD],
            cancelled=counts[JobState.CANCELLED],
            running=counts[JobState.RUNNING],
            retrying=retrying,
            waiting=counts[JobState.QUEUED] + scheduled - retrying,
            elapsed=now - self.started,
            rate=rate,
            peak=self._peak,
        )

    def _retrying(self, scheduled: int) -> int:
        if scheduled == 0:
            return 0
        if scheduled <= self.EXACT_UP_TO:
            records = self.store.list(states={JobState.SCHEDULED}, limit=self.EXACT_UP_TO)
            return sum(1 for r in records if r.attempt > 0)
        clock = time.time()
        first_waits = sum(n for due, n in self.delayed_until.items() if due > clock)
        return max(0, scheduled - first_waits)


def panel(t: Tally) -> RenderableType:
    share = t.finished / t.total if t.total else 1.0
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=t.total, completed=t.finished, width=48),
        Text(f"{t.finished}/{t.total} {share:4.0%}", style="bold"),
        Text(f"{t.elapsed:5.1f}s", style="dim"),
    )
    figures = Text.assemble(
        ("done ", "green"), (f"{t.done:<6}", "bold green"),
        ("retrying ", "yellow"), (f"{t.retrying:<5}", "bold yellow"),
        ("dead ", "red"), (f"{t.dead:<5}", "bold red"),
        ("running ", "cyan"), (f"{t.running:<5}", "bold cyan"),
        ("waiting ", "blue"), (f"{t.waiting:<6}", "bold blue"),
        (f"{t.rate:7.0f} jobs/s", "bold"),
    )  # fmt: skip
    return Group(bar, figures)


def line(t: Tally) -> str:
    return (
        f"{t.elapsed:6.1f}s  {t.finished}/{t.total}  done {t.done}  retrying {t.retrying}  "
        f"dead {t.dead}  running {t.running}  waiting {t.waiting}  {t.rate:.0f} jobs/s"
    )


def watch(
    console: Console, counter: Counter, still_running: Callable[[], None], interval: float = 0.2
) -> Tally:
    """Show progress until every job has finished; returns the last tally.

    `still_running` raises if the workers are gone, so a crash ends the
    watch instead of leaving it waiting forever.
    """
    if not console.is_terminal:
        return _plain(console, counter, still_running)
    tally = counter.read()
    with Live(panel(tally), console=console, refresh_per_second=10, transient=False) as live:
        while tally.finished < tally.total:
            time.sleep(interval)
            still_running()
            tally = counter.read()
            live.update(panel(tally))
    return tally


def _plain(console: Console, counter: Counter, still_running: Callable[[], None]) -> Tally:
    """One line a second: logs and CI output keep no redraw codes."""
    tally = counter.read()
    next_line = 0.0
    while True:
        if tally.elapsed >= next_line or tally.finished >= tally.total:
            console.print(line(tally), highlight=False, soft_wrap=True)
            next_line = tally.elapsed + 1.0
        if tally.finished >= tally.total:
            return tally
        time.sleep(0.2)
        still_running()
        tally = counter.read()
