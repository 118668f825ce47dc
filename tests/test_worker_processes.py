"""Real ``conveyor worker`` processes: SIGTERM, SIGKILL, poison jobs, several
processes, and a store that cannot be opened.

They run on every store whose jobs several processes share
(`Backend.shared`); the in-process stores have nothing to share.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor, JobState
from tests.apps.worker_app import LEASE_ENV, Event, read_log, register
from tests.backends import SHARED_BACKENDS, Backend, backend_params
from tests.helpers import START_SLACK, get, most_in_window, wait_for

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.worker_app:app"


@pytest.fixture(params=backend_params(SHARED_BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    """Overrides the conftest fixture: shared stores only."""
    return request.param  # type: ignore[no-any-return]


class WorkerProcess:
    """One ``python -m conveyor worker`` process (a session leader, so a
    supervisor and its children can be killed together)."""

    def __init__(self, url: str, args: list[str], stderr: Path, lease: float) -> None:
        env = dict(os.environ)
        env.update(
            CONVEYOR_URL=url,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        env[LEASE_ENV] = str(lease)
        self.stderr_path = stderr
        with stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "conveyor", "worker", APP, *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.pid} still running after {timeout} s; stderr:\n{self.stderr()}"
            ) from None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill_all(self) -> None:
        """SIGKILL the process and any children it started (its session)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)


Spawn = Callable[..., WorkerProcess]


@pytest.fixture
def spawn_on(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """``spawn_on(url, "--burst", lease=2.0)`` starts a worker on any store URL;
    whatever is still running at the end of the test is killed."""
    started: list[WorkerProcess] = []

    def start(url: str, *args: str, lease: float = 2.0) -> WorkerProcess:
        stderr = tmp_path / f"worker-{len(started)}.stderr"
        worker = WorkerProcess(url, list(args), stderr, lease)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill_all()


@pytest.fixture
def spawn(spawn_on: Callable[..., WorkerProcess], store_url: str) -> Spawn:
    """``spawn("--concurrency", "2", lease=2.0)`` starts a worker on this test's store."""

    def start(*args: str, lease: float = 2.0) -> WorkerProcess:
        return spawn_on(store_url, *args, lease=lease)

    return start


@pytest.fixture
def producer(make_app: Callable[..., Conveyor]) -> Conveyor:
    """An app on the test's store with the worker app's tasks, to enqueue and inspect."""
    return register(make_app())


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "executions.log"


def enqueue_work(producer: Conveyor, log: Path, count: int, seconds: float) -> list[str]:
    work = producer.get_task("work")
    return [job.id for job in work.enqueue_many([(n, seconds, str(log)) for n in range(count)])]


def started_jobs(log: Path) -> set[int]:
    return {event.job for event in read_log(log) if event.event == "start"}


def events_of(log: Path, event: str) -> list[Event]:
    return [entry for entry in read_log(log) if entry.event == event]


def job_states(producer: Conveyor, ids: list[str]) -> list[JobState]:
    return [get(producer.store, job_id).state for job_id in ids]


@pytest.mark.parametrize(
    ("seconds", "grace", "in_flight_end"),
    [
        pytest.param(1.0, 30.0, JobState.SUCCEEDED, id="finish-within-grace"),
        pytest.param(60.0, 0.5, JobState.QUEUED, id="hand-back-after-grace"),
    ],
)
def test_sigterm_loses_nothing(
    spawn: Spawn,
    producer: Conveyor,
    log: Path,
    seconds: float,
    grace: float,
    in_flight_end: JobState,
) -> None:
    ids = enqueue_work(producer, log, count=6, seconds=seconds)
    worker = spawn("--concurrency", "3", "--shutdown-timeout", str(grace))
    wait_for(lambda: len(started_jobs(log)) >= 3, timeout=30, message="three jobs to start")

    worker.signal(signal.SIGTERM)

    assert worker.wait(60) == 0, worker.stderr()
    started = started_jobs(log)
    assert len(started) >= 3
    for n, job_id in enumerate(ids):
        record = get(producer.store, job_id)
        if n in started:
            assert record.state is in_flight_end, f"job {n} was in flight: {record}"
        else:
            assert (record.state, record.attempt) == (JobState.QUEUED, 0), record
        if record.state is JobState.QUEUED:
            assert record.attempt == 0 and record.worker is None
    assert producer.store.list(states=[JobState.RUNNING]) == []
    assert producer.store.workers(ttl=3600) == []
    assert "Traceback" not in worker.stderr()


def test_second_sigterm_hands_back_at_once(spawn: Spawn, producer: Conveyor, log: Path) -> None:
    ids = enqueue_work(producer, log, count=2, seconds=120.0)
    worker = spawn("--concurrency", "2", "--shutdown-timeout", "120")
    wait_for(lambda: len(started_jobs(log)) == 2, timeout=30, message="both jobs to start")

    worker.signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM" in worker.stderr(), timeout=10, message="the first SIGTERM")
    assert worker.process.poll() is None  # still waiting for its jobs
    worker.signal(signal.SIGTERM)

    assert worker.wait(20) == 0, worker.stderr()
    for job_id in ids:
        record = get(producer.store, job_id)
        assert (record.state, record.attempt, record.errors) == (JobState.QUEUED, 0, ())
    assert events_of(log, "end") == []


def test_sigkill_loses_nothing(spawn: Spawn, producer: Conveyor, log: Path) -> None:
    ids = enqueue_work(producer, log, count=5, seconds=1.5)
    doomed = spawn("--concurrency", "3", lease=2.0)
    wait_for(lambda: len(started_jobs(log)) >= 3, timeout=30, message="three jobs to start")

    doomed.signal(signal.SIGKILL)
    assert doomed.wait(10) == -signal.SIGKILL
    in_flight = {n for n in started_jobs(log) if n not in {e.job for e in events_of(log, "end")}}
    assert in_flight, "the kill should catch jobs in flight"
    assert set(job_states(producer, [ids[n] for n in in_flight])) == {JobState.RUNNING}

    rescuer = spawn("--concurrency", "3", lease=2.0)
    wait_for(
        lambda: set(job_states(producer, ids)) == {JobState.SUCCEEDED},
        timeout=60,
        message="every job to succeed after recovery",
    )
    rescuer.signal(signal.SIGTERM)
    assert rescuer.wait(30) == 0, rescuer.stderr()

    for n, job_id in enumerate(ids):
        record = get(producer.store, job_id)
        assert record.state is JobState.SUCCEEDED
        if n in in_flight:
            assert record.attempt == 2
            assert [error.type for error in record.errors] == ["WorkerLost"]
    finished = {event.job for event in events_of(log, "end") if event.pid == rescuer.pid}
    assert in_flight <= finished


def test_job_that_kills_its_worker_ends_dead(spawn: Spawn, producer: Conveyor, log: Path) -> None:
    poison = producer.get_task("kill_worker").options(max_attempts=3).enqueue(99, str(log))
    healthy = enqueue_work(producer, log, count=4, seconds=0.2)
    supervisor = spawn("--processes", "2", "--concurrency", "1", lease=2.0)

    wait_for(
        lambda: poison.state is JobState.DEAD,
        timeout=90,
        interval=0.1,
        message="the poison job to end dead",
    )
    wait_for(
        lambda: set(job_states(producer, healthy)) == {JobState.SUCCEEDED},
        timeout=60,
        message="the healthy jobs to succeed",
    )
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0, supervisor.stderr()

    record = poison.record()
    assert record.reason == "worker_lost"
    assert record.attempt == 3
    assert [error.type for error in record.errors] == ["WorkerLost"] * 3
    poison_runs = [event for event in events_of(log, "start") if event.job == 99]
    assert len(poison_runs) == 3
    assert len({event.pid for event in poison_runs}) == 3  # each run killed its process


def test_several_processes_run_every_job_once_in_burst(
    spawn: Spawn, producer: Conveyor, log: Path
) -> None:
    ids = enqueue_work(producer, log, count=40, seconds=0.2)

    supervisor = spawn("--processes", "2", "--concurrency", "2", "--burst", lease=10.0)

    assert supervisor.wait(120) == 0, supervisor.stderr()
    assert set(job_states(producer, ids)) == {JobState.SUCCEEDED}
    starts = events_of(log, "start")
    assert sorted(event.job for event in starts) == list(range(40)), "a job ran twice"
    assert len({event.pid for event in starts}) == 2
    assert supervisor.pid not in {event.pid for event in starts}
    assert producer.store.workers(ttl=3600) == []


@pytest.mark.parametrize("processes", ["1", "2"])
@pytest.mark.parametrize(
    ("url", "mentions"),
    [
        # Root can write almost anywhere; nobody can create a directory in /proc.
        pytest.param(
            "sqlite:////proc/conveyor-test/jobs.db", "/proc/conveyor-test", id="sqlite-unwritable"
        ),
        pytest.param("nosuchstore://somewhere/0", "nosuchstore", id="unknown-scheme"),
    ],
)
def test_unusable_store_is_one_clear_error(
    spawn_on: Callable[..., WorkerProcess], url: str, mentions: str, processes: str
) -> None:
    worker = spawn_on(url, "--burst", "--processes", processes)

    code = worker.wait(60)

    stderr = worker.stderr()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code != 0
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    assert "Traceback" not in stderr
    assert mentions in lines[0]
    assert lines[0].lower().startswith("error")


def test_a_rate_limit_holds_across_worker_processes(
    spawn: Spawn, producer: Conveyor, log: Path
) -> None:
    limited = producer.get_task("limited")
    jobs = limited.enqueue_many([(n, str(log)) for n in range(50)])
    began = time.time()
    workers = [spawn("--concurrency", "10") for _ in range(2)]

    def stamps() -> list[tuple[float, int]]:
        if not log.exists():
            return []
        lines = [line.split() for line in log.read_text().splitlines()]
        return [(float(at), int(pid)) for at, _, pid in lines]

    wait_for(lambda: len(stamps()) == 50, timeout=40, message="50 rate-limited jobs")
    elapsed = time.time() - began
    for worker in workers:
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0

    times = sorted(at for at, _ in stamps())
    gaps = " ".join(f"{later - earlier:.2f}" for earlier, later in itertools.pairwise(times))
    assert 9.0 <= times[-1] - times[0] <= 13.0, f"gaps between starts: {gaps}"
    assert elapsed <= 25.0, elapsed
    # Start times are taken in the task, after the store admitted it (START_SLACK).
    assert most_in_window(times, 1.0 - START_SLACK) <= 5
    assert {pid for _, pid in stamps()} == {w.pid for w in workers}  # both took part
    assert {get(producer.store, job.id).attempt for job in jobs} == {1}
