"""``conveyor worker``: run jobs, in this process or under a supervisor of several."""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field

import click

from conveyor.cli._errors import CliError
from conveyor.cli._loader import load_app
from conveyor.stores import redact
from conveyor.worker import Worker, supervise
from conveyor.worker._worker import RECYCLE_STATUS, worker_memory

LOG_LEVELS = ("debug", "info", "warning", "error")

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def configure_logging(level: str) -> None:
    """One line per event on stderr, with a timestamp and the process id, so the
    output of several worker processes interleaves readably."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s[%(process)d] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """The queues of ``--queues``, in order, and their weights (empty when none
    was given, so a plain list keeps the unweighted claim across all queues)."""

    names: list[str]
    weights: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.weights:
            return ",".join(self.names)
        return ",".join(f"{name}:{self.weights[name]}" for name in self.names)


def parse_queues(text: str | None) -> QueueSpec | None:
    """``mail:3,reports:1`` or ``a,b``; a queue without a weight among weighted
    ones weighs 1. Raises `click.BadParameter` with what is wrong."""
    if text is None:
        return None
    names: list[str] = []
    weights: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, weight = (part.strip() for part in item.partition(":"))
        if not name:
            raise click.BadParameter(f"{item!r} has no queue name", param_hint="--queues")
        if name in names:
            raise click.BadParameter(f"queue {name!r} is listed twice", param_hint="--queues")
        names.append(name)
        if sep:
            if not weight.isdigit() or int(weight) < 1:
                raise click.BadParameter(
                    f"the weight of {name!r} must be a whole number of at least 1, "
                    f"got {weight!r} (e.g. mail:3,reports:1)",
                    param_hint="--queues",
                )
            weights[name] = int(weight)
    if not names:
        raise click.BadParameter("give at least one queue name", param_hint="--queues")
    if weights:
        weights = {name: weights.get(name, 1) for name in names}
    return QueueSpec(names, weights)


def parse_size(text: str) -> int:
    """Bytes from ``512M``, ``2G``, ``1.5g``, ``100MiB`` or a plain number of
    bytes; K, M, G and T are powers of 1024, as resident memory is counted."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size: use e.g. 512M, 2G or a number of bytes")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 1:
        raise ValueError(f"{text!r} is not a positive size")
    return size


class ByteSize(click.ParamType[int, object]):
    """A click parameter that reads `parse_size`."""

    name = "size"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _queues_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> QueueSpec | None:
    return parse_queues(value)


@click.command()
@click.argument("app")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Jobs run at once per process.",
)
@click.option(
    "-p",
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes; more than one runs them under a supervisor.",
)
@click.option(
    "-q",
    "--queues",
    metavar="A,B|A:3,B:1",
    callback=_queues_option,
    help="Queues to serve, comma-separated (default: those of the app's tasks); "
    "with weights (mail:3,reports:1) each claim starts with a queue picked at "
    "random in those proportions.",
)
@click.option(
    "--pool",
    type=click.Choice(["threads", "processes"]),
    default="threads",
    show_default=True,
    help="Run sync tasks on threads, or each in a child process (hard timeouts).",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    help="Replace a worker process after it has run this many jobs.",
)
@click.option(
    "--max-memory",
    type=ByteSize(),
    metavar="SIZE",
    help="Replace a worker process once its resident memory passes SIZE (512M, 2G or bytes).",
)
@click.option("--burst", is_flag=True, help="Run everything due, then exit.")
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=25.0,
    show_default=True,
    help="Seconds running jobs get after SIGTERM before they are handed back.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--supervised",
    is_flag=True,
    hidden=True,
    help="Set by the supervisor on its children: run the worker here.",
)
def worker(
    app: str,
    concurrency: int,
    processes: int,
    queues: QueueSpec | None,
    pool: str,
    max_jobs: int | None,
    max_memory: int | None,
    burst: bool,
    shutdown_timeout: float,
    log_level: str,
    supervised: bool,
) -> None:
    """Run a worker for APP (module:attribute). SIGTERM or Ctrl-C stops it
    gracefully; a second one hands running jobs back at once.

    With --max-jobs or --max-memory a worker process stops when it reaches the
    limit and its supervisor starts a fresh one, even with --processes 1."""
    configure_logging(log_level)
    conveyor_app = load_app(app)
    # Open the store and write to it now: a store that is unreachable or read-only
    # is one error line here, not a worker retrying (or a supervisor restarting) forever.
    # `recover` is the write every worker makes at start anyway, and harmless to repeat.
    store = conveyor_app.store
    store.recover()
    recycling = max_jobs is not None or max_memory is not None
    if not supervised and max_memory is not None and (used := worker_memory()) >= max_memory:
        raise CliError(
            f"--max-memory {max_memory >> 20} MiB is below what a worker uses at start "
            f"({used >> 20} MiB here): it would be replaced over and over"
        )
    if not supervised and (processes > 1 or recycling):
        conveyor_app.close()
        command = [
            sys.executable, "-m", "conveyor", "worker", app, "--supervised",
            "--concurrency", str(concurrency),
            "--pool", pool,
            "--shutdown-timeout", str(shutdown_timeout),
            "--log-level", log_level,
        ]  # fmt: skip
        if queues is not None:
            command += ["--queues", str(queues)]
        if max_jobs is not None:
            command += ["--max-jobs", str(max_jobs)]
        if max_memory is not None:
            command += ["--max-memory", str(max_memory)]
        if burst:
            command.append("--burst")
        logging.getLogger("conveyor.supervisor").info(
            "starting %d worker process%s on %s",
            processes, "es" if processes > 1 else "", redact(store.url),
        )  # fmt: skip
        sys.exit(supervise(command, processes, shutdown_timeout=shutdown_timeout))
    stats = Worker(
        conveyor_app,
        queues=queues.names if queues else None,
        weights=queues.weights if queues else None,
        concurrency=concurrency,
        burst=burst,
        shutdown_timeout=shutdown_timeout,
        pool="processes" if pool == "processes" else "threads",
        max_jobs=max_jobs,
        max_memory=max_memory,
    ).run()
    if stats.recycled:
        sys.exit(RECYCLE_STATUS)
