"""The command line for scheduling and flow control: ``cron list``, ``queues``,
paused queues in ``status``, and ``worker``'s weighted queues and recycling.

Commands run in-process with click's `CliRunner` against
``tests.apps.cli_app:app`` on a SQLite file per test; recycling runs real
``python -m conveyor worker`` processes, since it is about process exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner, Result

import conveyor.cli.worker as worker_cli
from conveyor import Conveyor, JobState
from conveyor.cli import cli
from conveyor.cli.worker import QueueSpec, parse_queues, parse_size
from conveyor.worker import WorkerStats, supervise
from conveyor.worker._worker import RECYCLE_STATUS
from tests.apps import cli_app
from tests.helpers import get

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.cli_app:app"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Conveyor]:
    """The CLI app, pointed at this test's SQLite file (in this process and in
    any worker process the test starts, through ``$CONVEYOR_URL``)."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    monkeypatch.setenv("CONVEYOR_URL", url)
    cli_app.app.close()
    monkeypatch.setattr(cli_app.app, "url", url)
    yield cli_app.app
    cli_app.app.close()


def run(*args: str) -> Result:
    """``conveyor ARGS`` in this process; fails the test on a non-zero exit."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, f"exit {result.exit_code}:\n{result.output}"
    return result


def line_of(output: str, word: str) -> str:
    [line] = [line for line in output.splitlines() if f" {word} " in line]
    return line


# -- cron list --------------------------------------------------------------


def next_paris_3am(instant: float) -> float:
    """The next 03:00 in Paris after `instant`, worked out without `Cron`."""
    paris = ZoneInfo("Europe/Paris")
    now = datetime.fromtimestamp(instant, paris)
    candidate = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if candidate <= now:
        candidate = (candidate.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=paris)
    return candidate.timestamp()


def test_cron_list_json_gives_next_and_last_fire(app: Conveyor) -> None:
    report = json.loads(run("cron", "list", APP, "--json").stdout)

    taken_at = report["taken_at"]
    by_name = {s["name"]: s for s in report["schedules"]}
    assert sorted(by_name) == ["nightly_report", "ping"]
    nightly, ping = by_name["nightly_report"], by_name["ping"]
    assert nightly["cron"] == "0 3 * * *" and nightly["timezone"] == "Europe/Paris"
    assert nightly["schedule"] == "at 03:00 every day"
    assert nightly["next_fire"] == next_paris_3am(taken_at)
    assert ping["every_seconds"] == 30 and ping["cron"] is None
    assert ping["next_fire"] == (math.floor(taken_at / 30) + 1) * 30
    for schedule in (nightly, ping):
        assert schedule["next_fire"] > taken_at
        assert schedule["last_fire"] is None

    fired_at = time.time() - 7500
    app.store.mark_fired("nightly_report", fired_at)
    report = json.loads(run("cron", "list", APP, "--json").stdout)
    lasts = {s["name"]: s["last_fire"] for s in report["schedules"]}
    assert lasts == {"nightly_report": pytest.approx(fired_at), "ping": None}


def test_cron_list_table(app: Conveyor) -> None:
    output = run("cron", "list", APP).stdout
    nightly, ping = line_of(output, "nightly_report"), line_of(output, "ping")
    for text in ("at 03:00 every day", "0 3 * * *", "Europe/Paris", "reports", "never"):
        assert text in nightly
    for text in ("every 30 seconds", "every=30", "UTC", "never", "(in "):
        assert text in ping
    next_local = datetime.fromtimestamp(next_paris_3am(time.time())).astimezone()
    assert f"{next_local:%Y-%m-%d %H:%M:%S}" in nightly

    fired_at = time.time() - 7500  # 2h 05m
    app.store.mark_fired("nightly_report", fired_at)
    nightly = line_of(run("cron", "list", APP).stdout, "nightly_report")
    assert "never" not in nightly
    assert f"{datetime.fromtimestamp(fired_at).astimezone():%Y-%m-%d %H:%M:%S}" in nightly
    assert "(2h 05m ago)" in nightly


def test_cron_list_of_an_app_without_schedules() -> None:
    result = run("cron", "list", "tests.apps.worker_app:app")
    assert result.stdout.strip() == (
        "tests.apps.worker_app:app has no periodic schedules (see @app.periodic)"
    )
    assert (
        json.loads(run("cron", "list", "tests.apps.worker_app:app", "--json").stdout)["schedules"]
        == []
    )


# -- queues -----------------------------------------------------------------


def queue_json(command: str) -> dict[str, Any]:
    report = json.loads(
        run(command, *(["list"] if command == "queues" else []), APP, "--json").stdout
    )
    return {q["queue"]: q for q in report["queues"]}


def test_pause_and_resume_round_trip(app: Conveyor) -> None:
    result = run("queues", "pause", APP, "work")
    assert "paused queue 'work'" in result.stdout
    assert app.store.paused() == {"work"}

    listing = run("queues", "list", APP).stdout
    assert line_of(listing, "work").split("│")[2].strip() == "yes"
    assert line_of(listing, "default").split("│")[2].strip() == "no"
    assert "work (paused)" in run("status", APP).stdout
    assert "default (paused)" not in run("status", APP).stdout
    for command in ("status", "queues"):
        flags = {name: q["paused"] for name, q in queue_json(command).items()}
        assert flags == {"default": False, "reports": False, "work": True}

    result = run("queues", "resume", APP, "work")
    assert result.stdout.strip() == "resumed queue 'work'"
    assert app.store.paused() == set()
    assert "(paused)" not in run("status", APP).stdout
    assert not any(q["paused"] for q in queue_json("status").values())
    assert run("queues", "resume", APP, "work").stdout.strip() == "queue 'work' was not paused"


def test_pausing_an_unknown_queue_works_with_a_note(app: Conveyor) -> None:
    result = run("queues", "pause", APP, "wrok")
    assert "note: no task of" in result.stderr
    assert app.store.paused() == {"wrok"}
    assert "wrok" in queue_json("status")  # a paused queue shows before its first job


# -- worker options ---------------------------------------------------------


def test_parse_queues() -> None:
    assert parse_queues(None) is None
    assert parse_queues("a, b") == QueueSpec(["a", "b"])
    weighted = parse_queues("mail:3,reports:1")
    assert weighted == QueueSpec(["mail", "reports"], {"mail": 3, "reports": 1})
    mixed = parse_queues("a:2,b")
    assert mixed == QueueSpec(["a", "b"], {"a": 2, "b": 1})
    assert str(mixed) == "a:2,b:1" and str(parse_queues("a,b")) == "a,b"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a:0", "at least 1, got '0'"),
        ("a:x,b", "weight of 'a'"),
        ("a:-1", "got '-1'"),
        ("a:", "got ''"),
        (":3", "no queue name"),
        ("a,a", "listed twice"),
        (" , ", "at least one queue"),
    ],
)
def test_bad_queues_are_a_usage_error(text: str, says: str) -> None:
    with pytest.raises(click.BadParameter, match=says):
        parse_queues(text)
    result = CliRunner().invoke(cli, ["worker", APP, "--queues", text])
    assert result.exit_code == 2
    assert says in result.output and "Traceback" not in result.output


def test_parse_size() -> None:
    assert parse_size("512M") == 512 * 2**20
    assert parse_size("2G") == 2 * 2**30
    assert parse_size("1.5g") == 3 * 2**29
    assert parse_size("100MiB") == parse_size("100mb") == 100 * 2**20
    assert parse_size("64k") == 65536
    assert parse_size("1048576") == 2**20


@pytest.mark.parametrize("text", ["lots", "12X", "-5", "0", "", "1.2.3M", "M"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)
    result = CliRunner().invoke(cli, ["worker", APP, "--max-memory", text])
    assert result.exit_code == 2
    assert "--max-memory" in result.output and "size" in result.output


def test_max_memory_below_a_fresh_worker_is_refused(app: Conveyor) -> None:
    result = CliRunner().invoke(cli, ["worker", APP, "--max-memory", "1M"])
    assert result.exit_code == 1
    assert "error: --max-memory 1 MiB is below what a worker uses at start" in result.output


def test_options_reach_the_worker(app: Conveyor, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class FakeWorker:
        def __init__(self, app: Conveyor, **options: Any) -> None:
            seen.update(options)

        def run(self) -> WorkerStats:
            return WorkerStats(recycled="ran 5 jobs")

    monkeypatch.setattr(worker_cli, "Worker", FakeWorker)
    result = CliRunner().invoke(
        cli,
        ["worker", APP, "--supervised", "--queues", "a:3,b", "--pool", "processes",
         "--max-jobs", "5", "--max-memory", "2G"],
    )  # fmt: skip
    assert result.exit_code == RECYCLE_STATUS, result.output
    assert seen["queues"] == ["a", "b"] and seen["weights"] == {"a": 3, "b": 1}
    assert seen["pool"] == "processes"
    assert (seen["max_jobs"], seen["max_memory"]) == (5, 2 * 2**30)


def test_recycling_runs_under_a_supervisor_with_every_option(
    app: Conveyor, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    def fake_supervise(command: list[str], processes: int, **options: Any) -> int:
        commands.append(command)
        return 0

    monkeypatch.setattr(worker_cli, "supervise", fake_supervise)
    run("worker", APP, "--max-jobs", "5", "--queues", "mail:3,reports", "--burst",
        "--pool", "processes", "--max-memory", "2G", "-c", "3")  # fmt: skip

    [command] = commands
    assert command[:6] == [sys.executable, "-m", "conveyor", "worker", APP, "--supervised"]
    options = command[6:]
    for name, value in [
        ("--queues", "mail:3,reports:1"),
        ("--max-jobs", "5"),
        ("--max-memory", str(2 * 2**30)),
        ("--pool", "processes"),
        ("--concurrency", "3"),
    ]:
        assert options[options.index(name) + 1] == value
    assert "--burst" in options


# -- supervisor -------------------------------------------------------------


def exits_with(tmp_path: Path, statuses: list[int]) -> list[str]:
    """A command whose n-th run exits with ``statuses[n]`` (the last one after)."""
    script = (
        "import pathlib, sys\n"
        f"runs = pathlib.Path({str(tmp_path / 'runs')!r})\n"
        "n = len(runs.read_text()) if runs.exists() else 0\n"
        "runs.write_text('x' * (n + 1))\n"
        f"statuses = {statuses!r}\n"
        "sys.exit(statuses[min(n, len(statuses) - 1)])\n"
    )
    return [sys.executable, "-c", script]


def test_supervisor_replaces_recycled_children_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="conveyor.supervisor")
    command = exits_with(tmp_path, [RECYCLE_STATUS] * 5 + [0])

    started = time.monotonic()
    assert supervise(command, 1, shutdown_timeout=1) == 0

    assert time.monotonic() - started < 10
    assert (tmp_path / "runs").read_text() == "x" * 6
    replaced = [r for r in caplog.records if "asked to be replaced" in r.getMessage()]
    assert len(replaced) == 5
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_supervisor_still_stops_a_crash_loop(tmp_path: Path) -> None:
    assert supervise(exits_with(tmp_path, [1]), 1, shutdown_timeout=1) == 1
    assert (tmp_path / "runs").read_text() == "x" * 3


# -- a real worker that recycles ---------------------------------------------


@contextlib.contextmanager
def worker_process(*args: str, stderr: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m conveyor worker APP ARGS`` in its own session, killed with
    its children if still running at the end."""
    env = dict(os.environ)
    paths = [
        str(ROOT),
        *(str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(":") if p),
    ]
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONUNBUFFERED="1")
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "worker", APP, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_max_jobs_replaces_the_worker_and_runs_every_job(app: Conveyor, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    jobs = cli_app.record.enqueue_many([(n, str(log)) for n in range(12)])
    stderr = tmp_path / "worker.stderr"

    with worker_process(
        "--max-jobs", "5", "--concurrency", "1", "--queues", "work", "--burst", stderr=stderr
    ) as process:
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running:\n{stderr.read_text()}") from None

    output = stderr.read_text()
    assert code == 0, output
    assert {get(app.store, job.id).state for job in jobs} == {JobState.SUCCEEDED}
    runs = [line.split() for line in log.read_text().splitlines()]
    assert sorted(int(n) for n, _ in runs) == list(range(12)), "a job ran twice or never"
    per_process = Counter(pid for _, pid in runs)
    assert len(per_process) >= 2
    # A worker claims no more than what is left of its --max-jobs: 5, 5, 2.
    assert sorted(per_process.values()) == [2, 5, 5], per_process
    assert output.count(f"asked to be replaced (exit status {RECYCLE_STATUS})") >= 2
    assert "stopping to be replaced: ran" in output
    for bad in ("keep exiting at start", "exited with status", "Traceback", "ERROR"):
        assert bad not in output, output


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("*/5 * * * *", "every 5 minutes"),
        ("0 * * * *", "every hour"),
        ("15 */2 * * *", "every 2 hours at :15"),
        ("0 3 * * *", "at 03:00 every day"),
        ("30 9 * * mon-fri", "at 09:30 on Mon-Fri"),
        ("0 9,17 * * *", "at 09:00 and 17:00 every day"),
        ("0 0 1,15 * *", "at 00:00 on days 1 and 15 of the month"),
        ("@yearly", "at 00:00 on Jan 1"),
        ("*/7 * * * *", "cron */7 * * * *"),  # :56 then :00 is not "every 7 minutes"
    ],
)
def test_schedules_in_words(expression: str, words: str) -> None:
    scratch = Conveyor("memory://")
    task = scratch.periodic(expression)(lambda: None)
    assert scratch.schedules[task.name].describe() == words


# -- the command group ------------------------------------------------------


def test_every_command_listed_loads_under_its_name() -> None:
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert "worker" in names and "jobs" in names
    for name in names:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
    assert cli.get_command(ctx, "nope") is None


def test_the_worker_command_loads_no_other_command() -> None:
    """A worker starts without the other commands' modules and their tables
    and progress bars (rich): a fresh interpreter shows what it imported."""
    code = (
        "import sys; from conveyor.cli import cli; import click; "
        "cli.get_command(click.Context(cli), 'worker'); "
        "print(' '.join(m for m in sys.modules if m.startswith(('rich', 'conveyor.cli.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = set(done.stdout.split())
    assert "conveyor.cli.worker" in loaded
    assert not {m for m in loaded if m.startswith("rich")}
    assert not loaded & {"conveyor.cli.status", "conveyor.cli.jobs", "conveyor.cli.demo"}
