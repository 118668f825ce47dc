"""The ``conveyor`` command line: workers, status, jobs, queues, cron, enqueue and the demo.

Every command takes the app as ``module:attribute``, the way the worker
imports it, so what the CLI sees is exactly what the workers run.
"""

from __future__ import annotations

import importlib

import click

from conveyor import __version__
from conveyor.cli._errors import CliError, Group

__all__ = ["CliError", "cli", "main"]

#: The commands, each defined by the function of its name in the module of its
#: name (``conveyor.cli.worker.worker``), imported only when that command runs
#: or help lists it: ``conveyor worker`` skips the tables and progress bars of
#: the others (rich): ``conveyor worker --help`` took 184 ms with every module,
#: 151 without.
COMMANDS = ("cron", "demo", "enqueue", "jobs", "migrate", "queues", "status", "worker")


class LazyGroup(Group):
    """The top-level group, loading each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        command = getattr(importlib.import_module(f"conveyor.cli.{cmd_name}"), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="conveyor")
def cli() -> None:
    """conveyor: background jobs for Python.

    APP is where your app lives, as module:attribute (e.g. myapp.jobs:app);
    the store comes from the app, or $CONVEYOR_URL.
    """


def main() -> None:
    """Entry point of the ``conveyor`` script and of ``python -m conveyor``."""
    cli(prog_name="conveyor")
