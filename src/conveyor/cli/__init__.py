"""The ``conveyor`` command line: workers, status, jobs, queues, cron, enqueue and the demo.

Every command takes the app as ``module:attribute``, the way the worker
imports it, so what the CLI sees is exactly what the workers run.
"""

from __future__ import annotations

import click

from conveyor import __version__
from conveyor.cli._errors import CliError, Group
from conveyor.cli.cron import cron
from conveyor.cli.demo import demo
from conveyor.cli.enqueue import enqueue
from conveyor.cli.jobs import jobs
from conveyor.cli.migrate import migrate
from conveyor.cli.queues import queues
from conveyor.cli.status import status
from conveyor.cli.worker import worker

__all__ = ["CliError", "cli", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="conveyor")
def cli() -> None:
    """conveyor: background jobs for Python.

    APP is where your app lives, as module:attribute (e.g. myapp.jobs:app);
    the store comes from the app, or $CONVEYOR_URL.
    """


for command in (worker, status, jobs, queues, cron, enqueue, migrate, demo):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``conveyor`` script and of ``python -m conveyor``."""
    cli(prog_name="conveyor")
