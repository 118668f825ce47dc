"""``conveyor jobs``: inspect, replay, cancel and delete individual jobs."""

from __future__ import annotations

import click

from conveyor.cli.jobs_admin import cancel, purge, retry
from conveyor.cli.jobs_view import list_jobs, show_job


@click.group()
def jobs() -> None:
    """Inspect and act on jobs: list, show, retry, cancel, purge."""


for command in (list_jobs, show_job, retry, cancel, purge):
    jobs.add_command(command)
