"""The moving parts of a chaos run: its settings, the job plan, the worker
processes (killed and replaced), and the producer that enqueues while they die."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from conveyor import Conveyor
from conveyor.job import NewJob
from tests.apps.chaos_app import LEASE_ENV, register
from tests.chaos.ledger import Kill

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.apps.chaos_app:app"


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


@dataclass(frozen=True)
class ChaosSettings:
    """One run's shape; every figure can be set from the environment."""

    jobs: int
    seed: int
    #: Seconds over which the producer spreads the enqueues; the kills last as long.
    enqueue_seconds: float
    workers: int
    concurrency: int
    lease: float
    kill_every: tuple[float, float]
    #: Seconds allowed, after the last enqueue, for every job to succeed.
    drain_deadline: float
    #: Seconds the store's server stays down in its restart (0: restart at once);
    #: longer than the lease, so leases expire while it is down.
    outage: float

    @classmethod
    def from_env(cls) -> ChaosSettings:
        return cls(
            jobs=env_int("CONVEYOR_CHAOS_JOBS", 3000),
            seed=env_int("CONVEYOR_CHAOS_SEED", random.SystemRandom().randrange(2**32)),
            enqueue_seconds=env_float("CONVEYOR_CHAOS_SECONDS", 40.0),
            workers=env_int("CONVEYOR_CHAOS_WORKERS", 3),
            concurrency=env_int("CONVEYOR_CHAOS_CONCURRENCY", 8),
            lease=env_float(LEASE_ENV, 2.0),
            kill_every=(1.0, 2.0),
            drain_deadline=env_float("CONVEYOR_CHAOS_DRAIN_DEADLINE", 120.0),
            outage=env_float("CONVEYOR_CHAOS_OUTAGE", 3.0),
        )


@dataclass(frozen=True)
class JobSpec:
    number: int
    task: str
    seconds: float


def plan_jobs(count: int, rng: random.Random) -> list[JobSpec]:
    """Mostly a few milliseconds, a fifth tens of milliseconds, a few hundreds:
    enough in flight that kills land mid-job. One in five runs on the event loop."""
    plan = []
    for number in range(count):
        draw = rng.random()
        if draw < 0.75:
            seconds = rng.uniform(0.002, 0.010)
        elif draw < 0.95:
            seconds = rng.uniform(0.010, 0.090)
        else:
            seconds = rng.uniform(0.150, 0.400)
        task = "chaos.async" if rng.random() < 0.2 else "chaos.sync"
        plan.append(JobSpec(number, task, round(seconds, 4)))
    return plan


@dataclass(frozen=True)
class WorkerExit:
    """A worker process that exited without being told to."""

    pid: int
    code: int | None
    #: Whether it had reached its claim loop (a worker that cannot reach the
    #: store at start-up exits with one error line, by design).
    had_started: bool
    stderr_tail: str


class WorkerProcess:
    """One ``python -m conveyor worker`` process on the chaos app."""

    def __init__(self, url: str, settings: ChaosSettings, stderr: Path) -> None:
        env = dict(os.environ)
        env.update(
            CONVEYOR_URL=url,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        env[LEASE_ENV] = str(settings.lease)
        self.stderr_path = stderr
        command = [
            sys.executable, "-m", "conveyor", "worker", APP,
            "--concurrency", str(settings.concurrency),
            "--shutdown-timeout", "10",
        ]  # fmt: skip
        with stderr.open("wb") as err:
            self.process = subprocess.Popen(
                command,
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

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def had_started(self) -> bool:
        return " started: queues=" in self.stderr()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)


class WorkerPool:
    """A fixed number of worker slots; a killed or exited worker is replaced at once."""

    def __init__(self, url: str, settings: ChaosSettings, directory: Path) -> None:
        self.url = url
        self.settings = settings
        self.directory = directory
        self.slots: list[WorkerProcess] = []
        self.all: list[WorkerProcess] = []
        self.kills: list[Kill] = []
        self.exits: list[WorkerExit] = []

    def _spawn(self) -> WorkerProcess:
        stderr = self.directory / f"worker-{len(self.all)}.stderr"
        worker = WorkerProcess(self.url, self.settings, stderr)
        self.all.append(worker)
        return worker

    def start(self) -> None:
        self.slots = [self._spawn() for _ in range(self.settings.workers)]

    def kill(self, slot: int, what: str) -> Kill:
        worker = self.slots[slot]
        kill = Kill(worker.pid, time.monotonic(), what)
        worker.kill()
        self.kills.append(kill)
        self.slots[slot] = self._spawn()
        return kill

    def kill_random(self, rng: random.Random) -> Kill:
        return self.kill(rng.randrange(len(self.slots)), "random")

    def kill_all(self) -> list[Kill]:
        """Every worker at once (SIGKILL sent to all before any is replaced)."""
        victims = list(self.slots)
        at = time.monotonic()
        for worker in victims:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
        for worker in victims:
            worker.process.wait(10)
        kills = [Kill(worker.pid, at, "all at once") for worker in victims]
        self.kills += kills
        self.slots = [self._spawn() for _ in victims]
        return kills

    def replace_exited(self) -> None:
        """Note and replace workers that exited on their own."""
        for slot, worker in enumerate(self.slots):
            code = worker.process.poll()
            if code is None:
                continue
            tail = "\n".join(worker.stderr().splitlines()[-15:])
            self.exits.append(WorkerExit(worker.pid, code, worker.had_started(), tail))
            self.slots[slot] = self._spawn()

    def wait_until_started(self, timeout: float) -> list[int]:
        """Poll until every slot's worker is in its claim loop (replacing any
        that exit); the pids of those that are not by the deadline."""
        give_up = time.monotonic() + timeout
        while True:
            self.replace_exited()
            waiting = [worker.pid for worker in self.slots if not worker.had_started()]
            if not waiting or time.monotonic() >= give_up:
                return waiting
            time.sleep(0.1)

    def start_failures(self) -> list[str]:
        """The last line of each worker that exited before its claim loop, counted."""
        lines = Counter(
            (worker_exit.stderr_tail.splitlines() or ["(no output)"])[-1]
            for worker_exit in self.exits
            if not worker_exit.had_started
        )
        return [f"{count} x {line}" for line, count in lines.most_common()]

    def stop(self, timeout: float) -> dict[int, int | None]:
        """SIGTERM every worker; their exit status by pid (None: still running)."""
        for worker in self.slots:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        codes: dict[int, int | None] = {}
        deadline = time.monotonic() + timeout
        for worker in self.slots:
            try:
                codes[worker.pid] = worker.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[worker.pid] = None
        return codes

    def tracebacks(self) -> list[str]:
        """The first lines of every traceback any worker wrote."""
        found = []
        for worker in self.all:
            lines = worker.stderr().splitlines()
            for index, line in enumerate(lines):
                if line.startswith("Traceback"):
                    found.append(f"pid {worker.pid}: " + "\n".join(lines[index : index + 12]))
        return found

    def close(self) -> None:
        for worker in self.all:
            if worker.process.poll() is None:
                worker.kill()


class Producer:
    """Enqueues the plan in small batches spread over `seconds`, on a thread.

    A batch whose enqueue fails (the server is restarting) is looked up once
    the store answers again: stored (the reply was lost) or not at all
    (enqueue is all or none); the missing ones are submitted again under the
    same ids, so no job is enqueued twice and none is left out.
    """

    def __init__(
        self,
        url: str,
        plan: list[JobSpec],
        ledger: Path,
        seconds: float,
        *,
        batch_size: int = 20,
        retry_deadline: float = 120.0,
    ) -> None:
        self.url = url
        self.plan = plan
        self.ledger = ledger
        self.seconds = seconds
        self.batch_size = batch_size
        self.retry_deadline = retry_deadline
        self.ids: dict[int, str] = {}
        self.errors: Counter[str] = Counter()
        self.indeterminate_batches = 0
        self.failure: BaseException | None = None
        self.started_at = 0.0
        self.finished_at = 0.0
        self.thread = threading.Thread(target=self.run, name="chaos-producer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def run(self) -> None:
        app = register(Conveyor(self.url))
        try:
            self.started_at = time.monotonic()
            batches = [
                self.plan[i : i + self.batch_size]
                for i in range(0, len(self.plan), self.batch_size)
            ]
            interval = self.seconds / len(batches)
            for index, batch in enumerate(batches):
                pause = self.started_at + index * interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # pacing: the producer's rate, not a wait for state
                jobs = [self._new_job(app, spec) for spec in batch]
                self._submit(app, jobs)
                for spec, job in zip(batch, jobs, strict=True):
                    self.ids[spec.number] = job.id
        except BaseException as exc:
            self.failure = exc
        finally:
            self.finished_at = time.monotonic()
            app.close()

    def _new_job(self, app: Conveyor, spec: JobSpec) -> NewJob:
        call = app.get_task(spec.task).options()
        return call.new_job((spec.number, spec.seconds, str(self.ledger)), {})

    def _note_error(self, exc: Exception) -> None:
        kind = type(exc)
        self.errors[f"{kind.__module__}.{kind.__qualname__}"] += 1

    def _submit(self, app: Conveyor, jobs: list[NewJob]) -> None:
        deadline = time.monotonic() + self.retry_deadline
        delay = 0.05
        while True:
            try:
                app.submit(jobs)
                return
            except Exception as exc:
                self._note_error(exc)
            while True:  # until the store answers whether the batch is there
                if time.monotonic() > deadline:
                    raise AssertionError(f"enqueue kept failing for {self.retry_deadline} s")
                time.sleep(delay)  # backoff between attempts on a failing store
                delay = min(delay * 2, 1.0)
                try:
                    stored = [app.store.get(job.id) is not None for job in jobs]
                    break
                except Exception as exc:
                    self._note_error(exc)
            if all(stored):
                self.indeterminate_batches += 1
                return
            if any(stored):
                raise AssertionError(
                    f"a failed enqueue of {len(jobs)} jobs stored {sum(stored)} of them "
                    "(enqueue must be all or none)"
                )
