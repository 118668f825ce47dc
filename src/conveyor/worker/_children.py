"""Child processes for sync attempts whose timeout must be hard.

A thread cannot be stopped from outside; a process can. A task declared with
``process=True`` (or every sync task, under ``conveyor worker --pool
processes``) runs each attempt in a child process the worker keeps warm and
reuses. At the attempt's timeout, or when its job is cancelled, the child is
killed and replaced; a child that dies by itself fails only its own attempt.

Children are started with the ``spawn`` method: the worker has threads, and
forking a process with threads can copy a lock some other thread holds. So a
child imports the task by module and name, which is why ``process=True``
tasks must be defined at module level.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from conveyor.codec import JsonCodec
from conveyor.context import JobContext, _current
from conveyor.errors import ConveyorError, EncodeError

_spawn = multiprocessing.get_context("spawn")
log = logging.getLogger("conveyor.worker")


class ChildDied(ConveyorError):
    """The child process running the attempt exited before it answered."""


class ChildError(ConveyorError):
    """An exception raised in a child that could not be sent back as itself."""


@dataclass(frozen=True, slots=True)
class Call:
    """One attempt, as sent to a child: the task by import path, its arguments."""

    module: str
    qualname: str
    args: list[Any]
    kwargs: dict[str, Any]
    job_id: str
    task: str
    queue: str
    attempt: int
    max_attempts: int


@dataclass(frozen=True, slots=True)
class Returned:
    result: str  # JSON


@dataclass(frozen=True, slots=True)
class Raised:
    exception: BaseException
    traceback: str


@dataclass(frozen=True, slots=True)
class Stopped:
    """The child was killed: the attempt passed its deadline or was cancelled."""

    timed_out: bool


Answer = Returned | Raised | Stopped


def _child_main(conn: Connection) -> None:
    codec = JsonCodec()
    while True:
        try:
            call: Call = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        token = _current.set(
            JobContext(call.job_id, call.task, call.queue, call.attempt, call.max_attempts)
        )
        try:
            target: Any = importlib.import_module(call.module)
            for part in call.qualname.split("."):
                target = getattr(target, part)
            fn = getattr(target, "fn", target)  # the Task, or a plain function
            value = fn(*call.args, **call.kwargs)
            answer: tuple[str, Any] = ("ok", codec.encode_result(value))
        except EncodeError as exc:
            answer = ("encode", str(exc))
        except BaseException as exc:
            text = "".join(traceback.format_exception(exc))
            # Pickle crosses only the pipe between a worker and the child it
            # spawned (multiprocessing pickles every message on it anyway);
            # nothing pickled is ever stored, so the store stays JSON only.
            # An exception that would not unpickle goes back as a ChildError.
            try:
                payload = pickle.dumps(exc)
                pickle.loads(payload)
            except Exception:
                payload = pickle.dumps(ChildError(f"{type(exc).__qualname__}: {exc}"))
            answer = ("raised", (payload, text))
        finally:
            _current.reset(token)
        conn.send(answer)


class Child:
    """One warm child process and the pipe to it."""

    def __init__(self) -> None:
        self.conn, child_end = _spawn.Pipe()
        self.process = _spawn.Process(target=_child_main, args=(child_end,), daemon=True)
        self.process.start()
        child_end.close()

    def run(self, call: Call, deadline: float | None, cancelled: Callable[[], bool]) -> Answer:
        """Send `call` and wait for its answer, killing the child at `deadline`
        (monotonic) or when `cancel` is set. Raises `ChildDied` if it exits."""
        self.conn.send(call)
        while not self.conn.poll(0.05):
            if cancelled() or (deadline is not None and time.monotonic() >= deadline):
                self.kill()
                return Stopped(timed_out=not cancelled())
            if not self.process.is_alive() and not self.conn.poll(0):
                raise ChildDied(f"child process exited with status {self.process.exitcode}")
        try:
            kind, value = self.conn.recv()
        except EOFError:
            self.process.join(1.0)
            raise ChildDied(f"child process exited with status {self.process.exitcode}") from None
        if kind == "ok":
            return Returned(value)
        if kind == "encode":
            raise EncodeError(value)
        payload, text = value
        return Raised(pickle.loads(payload), text)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5.0)
        self.conn.close()

    def close(self) -> None:
        if self.process.is_alive():
            self.conn.close()  # the child sees EOF and returns
            self.process.join(2.0)
            if self.process.is_alive():
                self.kill()


class ChildPool:
    """Warm children, one per attempt running at once; a dead one is replaced,
    and so is one whose resident memory passed `max_memory` bytes after the
    attempt it ran (a leak in task code grows the child, not the worker)."""

    def __init__(self, max_memory: int | None = None) -> None:
        self._idle: list[Child] = []
        self._all: set[Child] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._max_memory = max_memory

    def run(self, call: Call, timeout: float | None, cancelled: Callable[[], bool]) -> Answer:
        child = self._take()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            answer = child.run(call, deadline, cancelled)
        except BaseException:
            self._drop(child)
            raise
        if isinstance(answer, Stopped) or not child.alive:
            self._drop(child)
        elif self._too_big(child):
            self._retire(child)
        else:
            self._give_back(child)
        return answer

    def close(self) -> None:
        with self._lock:
            self._closed = True
            children, self._all, self._idle = list(self._all), set(), []
        for child in children:
            child.close()

    def _take(self) -> Child:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        child = Child()
        with self._lock:
            self._all.add(child)
        return child

    def _give_back(self, child: Child) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(child)
                return
        child.close()

    def _drop(self, child: Child) -> None:
        with self._lock:
            self._all.discard(child)
        if child.alive:
            child.kill()

    def _too_big(self, child: Child) -> bool:
        if self._max_memory is None or child.pid is None:
            return False
        used = resident_memory(child.pid)
        if used is None or used <= self._max_memory:
            return False
        log.info("child process %d uses %d MiB (--max-memory %d MiB): replacing it",
                 child.pid, used >> 20, self._max_memory >> 20)  # fmt: skip
        return True

    def _retire(self, child: Child) -> None:
        """Let an idle child exit (the next attempt starts a fresh one)."""
        with self._lock:
            self._all.discard(child)
        child.close()


def resident_memory(pid: int | str = "self") -> int | None:
    """Bytes of resident memory of process `pid` now, or None where Linux's
    /proc cannot tell (another system, a process gone)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
