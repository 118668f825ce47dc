"""The app the command line tests use: ``tests.apps.cli_app:app``.

Its store is ``$CONVEYOR_URL``, set per test. Two periodic tasks (a cron in
Europe/Paris, one every 30 s) and a task that notes each run in a file, so a
test can count which worker process ran what.
"""

from __future__ import annotations

import os

from conveyor import Conveyor

app = Conveyor()


@app.periodic("0 3 * * *", tz="Europe/Paris", name="nightly_report", queue="reports")
def nightly_report() -> None:
    """Runs at 03:00 Paris time."""


@app.periodic(every=30, name="ping")
def ping() -> None:
    """Runs every 30 s."""


@app.task(name="record", queue="work")
def record(n: int, log: str) -> int:
    """Append ``<n> <pid>`` to the file at `log` in one write."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{n} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return n
