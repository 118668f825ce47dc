"""What every peer runner shares: the job body, the three measurements, the output.

A runner module (``bench/peers/<peer>_bench.py``) defines a `Peer`, a
``make(variant)`` that builds it and the ``VARIANTS`` it knows: how to
empty its store, enqueue the no-op job (single calls, and in bulk where the
library has a bulk API), enqueue one latency probe, and the command line that
starts ONE worker process. ``python -m bench.peers.measure <module>`` then
measures, in its own process:

1. **enqueue, single calls**: ``--single`` calls of the library's enqueue
   function, one after the other (async libraries: awaited one by one);
2. **enqueue, bulk**: ``--jobs`` jobs through the bulk API in chunks of
   ``--chunk``, on an emptied store ("—" where the library has none);
3. **drain**: with ``--jobs`` no-op jobs queued, one worker process is started
   and the parent polls a counter until every job has run. The counter is the
   same for every library: the job body appends one byte to a file (opened
   once per process with ``O_APPEND``), and the parent reads the file's size
   every ``POLL`` seconds. Reported: jobs/s from spawning the worker to the
   last job (process start-up included), and from the first job seen to the
   last (start-up excluded);
4. **pickup latency**: on an idle worker, one probe job at a time, after a
   random gap of 10 to 50 ms: the time from just before the enqueue call to the
   first statement of the job body, which appends ``"<sample> <time.time()>"``
   to a second file. p50 and p99 over ``--samples`` probes, after a few
   warm-up probes that are not counted.

Steps 1 to 3 are repeated ``--runs`` times (the median is reported); step 4 runs
once. The result is one JSON object on stdout; progress goes to stderr.

This module uses the standard library only: arq's runner imports it from a
second environment (see install.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
#: The database the PostgreSQL peers use; run.py drops and recreates it.
PG_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/bench")

VARIANT_ENV = "BENCH_VARIANT"
DONE_ENV = "BENCH_DONE_FILE"
STAMP_ENV = "BENCH_STAMP_FILE"

#: Seconds between the parent's polls of the counter and stamp files.
POLL = 0.005
#: Warm-up probes before the latency samples (not counted).
WARMUP = 5
#: Seconds a worker gets to stop after SIGTERM before its group is killed.
STOP_GRACE = 5.0

T = TypeVar("T")

# -- the job body, run inside the workers ----------------------------------

_files: dict[str, int] = {}


def _append(env: str, data: bytes) -> None:
    fd = _files.get(env)
    if fd is None:
        fd = _files[env] = os.open(os.environ[env], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, data)


def variant(default: str) -> str:
    """The variant being measured (``--variant``), in the runner and in its worker."""
    return os.environ.get(VARIANT_ENV) or default


def job_done() -> None:
    """The no-op job's body: count one job done."""
    _append(DONE_ENV, b".")


def job_started(sample: int) -> None:
    """The latency probe's body: note when it started."""
    _append(STAMP_ENV, f"{sample} {time.time():.6f}\n".encode())


# -- the peer interface ----------------------------------------------------


class Unsupported(Exception):
    """The library has no API for this measurement."""


class Peer(ABC):
    """One library on one store, as its runner drives it."""

    #: Row label, e.g. "celery" or "huey (SqliteHuey)".
    name: str
    #: "redis", "postgres" or "sqlite".
    store: str
    #: The distribution whose version is reported.
    package: str
    #: How the worker is configured and how jobs are enqueued, for the report.
    config: str
    #: Why there is no bulk figure, when there is none.
    no_bulk: str | None = None

    @abstractmethod
    def setup(self) -> None:
        """Leave the store empty (and its schema in place), ready to enqueue."""

    @abstractmethod
    def enqueue(self, n: int) -> None:
        """Enqueue `n` no-op jobs, one call each."""

    def enqueue_bulk(self, n: int, chunk: int) -> None:
        """Enqueue `n` no-op jobs through the bulk API, `chunk` per call."""
        raise Unsupported(self.no_bulk or "no bulk enqueue API")

    @abstractmethod
    def enqueue_probe(self, sample: int) -> None:
        """Enqueue one latency probe job for `sample`."""

    @abstractmethod
    def worker_command(self) -> list[str]:
        """The command line that starts one worker process (run from the repo root)."""

    def worker_env(self) -> dict[str, str]:
        """Extra environment for the worker process."""
        return {}

    def queued(self) -> int | None:
        """Jobs waiting in the store, to check the enqueue steps (None: not checked)."""
        return None

    def version(self) -> str:
        return package_version(self.package)

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""


class AsyncPeer(Peer):
    """A peer whose client API is asyncio: calls run on one private event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await awaitable

        return self.loop.run_until_complete(wrapper())

    def close(self) -> None:
        self.loop.close()


# -- measuring -------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(slots=True)
class Worker:
    """One worker process in its own process group, its output in a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    spawned: float

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"the worker exited with status {self.process.returncode}:\n{self.tail()}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                log(f"  the worker did not stop within {STOP_GRACE:.0f}s of SIGTERM; killed")
        # Whatever is left of the group (a pool's children), and the leader.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def start_worker(peer: Peer, folder: Path, done: Path, stamps: Path, label: str) -> Worker:
    env = dict(os.environ)
    env.update(peer.worker_env())
    env[DONE_ENV] = str(done)
    env[STAMP_ENV] = str(stamps)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    log_path = folder / f"worker-{label}.log"
    with log_path.open("wb") as out:
        spawned = time.perf_counter()
        process = subprocess.Popen(
            peer.worker_command(),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    return Worker(process, log_path, spawned)


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def check_queued(peer: Peer, expected: int, when: str) -> None:
    found = peer.queued()
    if found is not None and found != expected:
        raise RuntimeError(f"{when}: expected {expected} queued jobs, the store has {found}")


@dataclass(slots=True)
class DrainResult:
    spawn_to_done: float
    first_to_done: float
    startup: float
    executed: int


def drain(peer: Peer, n: int, folder: Path, timeout: float, label: str) -> DrainResult:
    done = folder / f"done-{label}"
    done.write_bytes(b"")
    worker = start_worker(peer, folder, done, folder / f"stamps-{label}", label)
    first: float | None = None
    try:
        while True:
            size = done.stat().st_size
            now = time.perf_counter()
            if size and first is None:
                first = now
            if size >= n:
                break
            worker.check_alive()
            if now - worker.spawned > timeout:
                raise RuntimeError(f"{size} of {n} jobs ran in {timeout:.0f}s:\n{worker.tail()}")
            time.sleep(POLL)
    finally:
        worker.stop()
    assert first is not None
    return DrainResult(
        spawn_to_done=now - worker.spawned,
        first_to_done=now - first,
        startup=first - worker.spawned,
        executed=done.stat().st_size,
    )


class Stamps:
    """Reads "<sample> <time>" lines as the probe jobs append them."""

    def __init__(self, path: Path) -> None:
        path.write_bytes(b"")
        self.file = path.open("rb")
        self.buffer = b""
        self.seen: dict[int, float] = {}

    def read(self) -> None:
        self.buffer += self.file.read()
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            sample, at = line.split()
            self.seen[int(sample)] = float(at)

    def wait(self, sample: int, worker: Worker, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while sample not in self.seen:
            self.read()
            if sample in self.seen:
                break
            worker.check_alive()
            if time.perf_counter() > deadline:
                raise RuntimeError(f"probe {sample} did not start in {timeout:.0f}s")
            time.sleep(POLL)
        return self.seen[sample]


@dataclass(slots=True)
class LatencyResult:
    samples: list[float] = field(default_factory=list)
    duplicates: int = 0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        k = (len(ordered) - 1) * p / 100
        low = int(k)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def latency(peer: Peer, samples: int, folder: Path, timeout: float, seed: int) -> LatencyResult:
    rng = random.Random(seed)
    stamps_path = folder / "stamps-latency"
    stamps = Stamps(stamps_path)
    worker = start_worker(peer, folder, folder / "done-latency", stamps_path, "latency")
    result = LatencyResult()
    try:
        for i in range(-WARMUP, samples):
            time.sleep(rng.uniform(0.010, 0.050))
            enqueued = time.time()
            peer.enqueue_probe(i)
            started = stamps.wait(i, worker, timeout)
            if i >= 0:
                result.samples.append(started - enqueued)
        time.sleep(0.2)  # a probe run twice would show up by now
        stamps.read()
    finally:
        worker.stop()
    lines = stamps_path.read_bytes().count(b"\n")
    result.duplicates = lines - (samples + WARMUP)
    return result


# -- the runner's command line -----------------------------------------------


def measure(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    n = args.jobs
    runs: dict[str, list[float]] = {
        "enqueue_single": [],
        "enqueue_bulk": [],
        "drain": [],
        "drain_after_first": [],
        "startup": [],
    }
    notes: list[str] = []
    executed: list[int] = []
    bulk_ok = True
    with tempfile.TemporaryDirectory(prefix=f"bench-{peer.package}-") as tmp:
        folder = Path(tmp)
        for run in range(args.runs):
            log(f"{peer.name}: run {run + 1}/{args.runs}")
            peer.setup()
            seconds = timed(lambda: peer.enqueue(args.single))
            check_queued(peer, args.single, "after single enqueues")
            runs["enqueue_single"].append(args.single / seconds)
            log(f"  enqueue single: {args.single / seconds:,.0f}/s")

            peer.setup()
            if bulk_ok:
                try:
                    seconds = timed(lambda: peer.enqueue_bulk(n, args.chunk))
                except Unsupported as exc:
                    bulk_ok = False
                    notes.append(f"bulk enqueue: {exc}")
                    peer.setup()
                    peer.enqueue(n)
                else:
                    runs["enqueue_bulk"].append(n / seconds)
                    log(f"  enqueue bulk: {n / seconds:,.0f}/s")
            else:
                peer.enqueue(n)
            check_queued(peer, n, "before the drain")

            result = drain(peer, n, folder, args.timeout, f"run{run}")
            runs["drain"].append(n / result.spawn_to_done)
            runs["drain_after_first"].append((n - 1) / result.first_to_done)
            runs["startup"].append(result.startup)
            executed.append(result.executed)
            log(
                f"  drain: {n / result.spawn_to_done:,.0f}/s from spawn, "
                f"{(n - 1) / result.first_to_done:,.0f}/s from the first job "
                f"(start-up {result.startup:.2f}s, {result.executed} executed)"
            )
        if any(count != n for count in executed):
            notes.append(f"jobs executed per drain: {executed} (expected {n} each)")

        samples = LatencyResult()
        if args.samples:
            peer.setup()
            samples = latency(peer, args.samples, folder, args.timeout, args.seed)
            log(
                f"  pickup latency: p50 {samples.percentile(50) * 1000:.2f} ms, "
                f"p99 {samples.percentile(99) * 1000:.2f} ms"
            )
            if samples.duplicates:
                notes.append(f"latency probes run more than once: {samples.duplicates}")

    def median(key: str) -> float | None:
        return statistics.median(runs[key]) if runs[key] else None

    return {
        "name": peer.name,
        "store": peer.store,
        "package": peer.package,
        "version": peer.version(),
        "config": " ".join(peer.config.split()),
        "worker_command": " ".join(peer.worker_command()),
        "enqueue_single": median("enqueue_single"),
        "enqueue_bulk": median("enqueue_bulk"),
        "drain": median("drain"),
        "drain_after_first": median("drain_after_first"),
        "startup": median("startup"),
        "pickup_p50_ms": samples.percentile(50) * 1000 if samples.samples else None,
        "pickup_p99_ms": samples.percentile(99) * 1000 if samples.samples else None,
        "runs": runs,
        "latency_samples_ms": [round(s * 1000, 3) for s in samples.samples],
        "parameters": {
            "jobs": n,
            "single": args.single,
            "chunk": args.chunk,
            "runs": args.runs,
            "samples": args.samples,
            "python": platform.python_version(),
        },
        "notes": notes,
        "no_bulk": peer.no_bulk,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers.measure",
        description="Measure one peer; prints one JSON object on stdout.",
    )
    parser.add_argument("module", help="runner module in bench/peers, e.g. rq_bench")
    parser.add_argument("--variant", help="one of the module's VARIANTS (default: the first)")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per bulk enqueue and drain")
    parser.add_argument("--single", type=int, default=10_000, help="single enqueue calls timed")
    parser.add_argument("--chunk", type=int, default=1_000, help="jobs per bulk enqueue call")
    parser.add_argument("--runs", type=int, default=3, help="runs of enqueue and drain")
    parser.add_argument("--samples", type=int, default=200, help="pickup latency probes")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per drain/probe")
    parser.add_argument("--seed", type=int, default=1, help="seed of the gaps between probes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Import ``bench.peers.<module>``, build its peer for ``--variant`` and measure it.

    Runner modules are imported by name, never run as ``__main__``, so that
    the job functions have the same module path in the parent and the worker.
    """
    args = parse_args(argv)
    if args.variant:
        # Set before the import, and inherited by the worker: a module may
        # build its app differently per variant.
        os.environ[VARIANT_ENV] = args.variant
    module = importlib.import_module(f"bench.peers.{args.module}")
    variants: list[str] = module.VARIANTS
    variant = args.variant or variants[0]
    if variant not in variants:
        raise SystemExit(f"{args.module}: no variant {variant!r}; choose from {variants}")
    # run.py stops a runner with SIGTERM: unwind, so the worker is stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    peer: Peer = module.make(variant)
    try:
        report = measure(peer, args)
    finally:
        peer.close()
    print(json.dumps(report))
    return 0
