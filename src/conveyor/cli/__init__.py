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

#: Each command's module, imported only when that command runs or help lists
#: it: ``conveyor worker`` skips the tables and progress bars of the others
#: (rich): ``conveyor worker --help`` took 184 ms with every module, 151 without.
COMMANDS = {
    name: f"conveyor.cli.{name}"
    for name in ("worker", "status", "jobs", "queues", "cron", "enqueue", "migrate", "demo")
}


class LazyGroup(Group):
    """The top-level group, loading each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = getattr(importlib.import_module(module), cmd_name)
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
