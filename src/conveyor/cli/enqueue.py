"""``conveyor enqueue``: make a job from the shell, through the task's own checks."""

from __future__ import annotations

import json
from typing import Any

import click

from conveyor.app import Conveyor
from conveyor.cli._errors import BadInput
from conveyor.cli._loader import load_app
from conveyor.task import Task


def find_task(app: Conveyor, name: str) -> Task[Any, Any]:
    """The task called `name`, or the one task whose name ends in ``.name``:
    typing ``send_email`` beats typing ``myapp.jobs.send_email``."""
    if name in app.tasks:
        return app.tasks[name]
    matches = [task for full, task in app.tasks.items() if full.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted(app.tasks)) or "none"
    if matches:
        raise BadInput(f"task name {name!r} is ambiguous: {', '.join(t.name for t in matches)}")
    raise BadInput(f"no task named {name!r}; registered: {known}")


def parse_json(text: str, kind: type, option: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadInput(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        expected = "array" if kind is list else "object"
        raise BadInput(f"{option} must be a JSON {expected}, got {type(value).__name__}")
    return value


@click.command()
@click.argument("app")
@click.argument("task_name", metavar="TASK")
@click.option(
    "--args",
    "args_json",
    default="[]",
    metavar="JSON",
    help="Positional arguments as a JSON array, e.g. '[\"a@example.com\"]'.",
)
@click.option(
    "--kwargs",
    "kwargs_json",
    default="{}",
    metavar="JSON",
    help='Keyword arguments as a JSON object, e.g. \'{"subject": "hi"}\'.',
)
@click.option("-q", "--queue", help="Queue (default: the task's).")
@click.option("--priority", type=int, help="Higher runs first (default: the task's).")
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Run no earlier than this many seconds from now.",
)
@click.option("--key", help="Unique key: no second active job with it is created.")
def enqueue(
    app: str,
    task_name: str,
    args_json: str,
    kwargs_json: str,
    queue: str | None,
    priority: int | None,
    delay: float | None,
    key: str | None,
) -> None:
    """Enqueue one job of TASK on APP and print its id."""
    task = find_task(load_app(app), task_name)
    args = parse_json(args_json, list, "--args")
    kwargs = parse_json(kwargs_json, dict, "--kwargs")
    overrides = {
        name: value
        for name, value in (
            ("queue", queue),
            ("priority", priority),
            ("delay", delay),
            ("key", key),
        )
        if value is not None
    }
    try:
        call = task.options(**overrides)
        job = call.enqueue(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        # EncodeError is a TypeError too: both are the caller's input, not the store's.
        raise BadInput(str(exc)) from None
    click.echo(job.id)
