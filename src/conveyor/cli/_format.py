"""Small formatting helpers shared by the commands: durations, times, URLs, styles."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console

from conveyor.job import JobState

#: Colours of states wherever a state is printed, so a glance finds the dead.
STATE_STYLE: dict[JobState, str] = {
    JobState.SCHEDULED: "blue",
    JobState.QUEUED: "cyan",
    JobState.RUNNING: "yellow",
    JobState.SUCCEEDED: "green",
    JobState.DEAD: "bold red",
    JobState.CANCELLED: "dim",
}


def make_console(*, stderr: bool = False) -> Console:
    """A console for tables: its terminal's width, or a wide page when piped, where
    wrapping at 80 columns would only break lines a script or a log wants whole."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=200)


def duration(seconds: float) -> str:
    """``0.4s``, ``4.2s``, ``3m 05s``, ``2h 13m``, ``3d 4h``: precise when short,
    coarse when long, since nobody reads the seconds of a two-day wait."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m" if whole % 60 == 0 else f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def age(timestamp: float | None, now: float | None = None) -> str:
    if timestamp is None:
        return "-"
    delta = (time.time() if now is None else now) - timestamp
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"


def when(timestamp: float | None) -> str:
    """A local wall-clock time with its age, for `jobs show`."""
    if timestamp is None:
        return "-"
    local = datetime.fromtimestamp(timestamp).astimezone()
    return f"{local.isoformat(timespec='milliseconds')} ({age(timestamp)})"


def styled_state(state: JobState) -> str:
    return f"[{STATE_STYLE[state]}]{state.value}[/]"


def moment(timestamp: float, now: float | None = None) -> str:
    """A local time to the second with its zone and age, for tables:
    ``2025-03-01 03:00:00 CET (in 4m 10s)``."""
    local = datetime.fromtimestamp(timestamp).astimezone()
    return f"{local:%Y-%m-%d %H:%M:%S %Z} ({age(timestamp, now)})"
