"""``conveyor worker``: run jobs, in this process or under a supervisor of several."""

from __future__ import annotations

import logging
import sys

import click

from conveyor.cli._loader import load_app
from conveyor.stores import redact
from conveyor.worker import Worker, supervise

LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str) -> None:
    """One line per event on stderr, with a timestamp and the process id, so the
    output of several worker processes interleaves readably."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s[%(process)d] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )


def parse_queues(queues: str | None) -> list[str] | None:
    if queues is None:
        return None
    names = [name.strip() for name in queues.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("give at least one queue name", param_hint="--queues")
    return names


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
    metavar="A,B",
    help="Queues to serve, comma-separated (default: those of the app's tasks).",
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
def worker(
    app: str,
    concurrency: int,
    processes: int,
    queues: str | None,
    burst: bool,
    shutdown_timeout: float,
    log_level: str,
) -> None:
    """Run a worker for APP (module:attribute). SIGTERM or Ctrl-C stops it
    gracefully; a second one hands running jobs back at once."""
    configure_logging(log_level)
    queue_names = parse_queues(queues)
    conveyor_app = load_app(app)
    # Open the store and write to it now: a store that is unreachable or read-only
    # is one error line here, not a worker retrying (or a supervisor restarting) forever.
    # `recover` is the write every worker makes at start anyway, and harmless to repeat.
    store = conveyor_app.store
    store.recover()
    if processes > 1:
        conveyor_app.close()
        command = [
            sys.executable, "-m", "conveyor", "worker", app,
            "--concurrency", str(concurrency),
            "--processes", "1",
            "--shutdown-timeout", str(shutdown_timeout),
            "--log-level", log_level,
        ]  # fmt: skip
        if queue_names:
            command += ["--queues", ",".join(queue_names)]
        if burst:
            command.append("--burst")
        logging.getLogger("conveyor.supervisor").info(
            "starting %d worker processes on %s", processes, redact(store.url)
        )
        sys.exit(supervise(command, processes, shutdown_timeout=shutdown_timeout))
    Worker(
        conveyor_app,
        queues=queue_names,
        concurrency=concurrency,
        burst=burst,
        shutdown_timeout=shutdown_timeout,
    ).run()
