"""How the command line reports failure: one ``error: ...`` line, never a traceback."""

from __future__ import annotations

from typing import IO, Any

import click

from conveyor.errors import ConveyorError


class CliError(click.ClickException):
    """A failure the user can act on: exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", file=file, err=file is None)


class BadInput(CliError):
    """The command line itself is wrong (an unknown task, JSON that does not parse):
    exit status 2, as for click's own usage errors."""

    exit_code = 2


class Group(click.Group):
    """A click group that turns any `ConveyorError` (a store that cannot be
    opened, a refused write) into a `CliError`: operators need the message,
    not the stack."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConveyorError as exc:
            raise CliError(str(exc) or type(exc).__name__) from None
