"""Wake-ups from LISTEN/NOTIFY: a thread on its own connection notes which
queues were notified, and waiting workers return as soon as one of theirs is.

Notifications are a hint, never trusted: the waiter still reads the table
before it sleeps and sleeps no longer than its poll interval, so a
notification lost while the listener reconnects costs latency, not jobs. The
thread drains its connection all the time, not only while someone waits: a
listener that stops reading holds back the server's notification queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection

import psycopg

#: The payload that wakes every waiter, whatever its queues.
ANY_QUEUE = ""


class Listener:
    """LISTENs on `connect()`'s connection in a daemon thread until `stop`."""

    def __init__(self, connect: Callable[[], psycopg.Connection[object]], listen: str) -> None:
        self._connect = connect
        self._listen = listen
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._stopping = threading.Event()
        #: Set while the connection is open and LISTENing.
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="conveyor-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(2.0)

    def take(self, queues: Collection[str]) -> bool:
        """True (and forgotten) if any of `queues` was notified since the last take."""
        with self._cond:
            return self._take(queues)

    def wait(self, queues: Collection[str], timeout: float) -> bool:
        """Block until one of `queues` is notified or `timeout` passes."""
        with self._cond:
            return self._cond.wait_for(lambda: self._take(queues), timeout)

    def _take(self, queues: Collection[str]) -> bool:
        hit = ANY_QUEUE in self._pending or not self._pending.isdisjoint(queues)
        if hit:
            self._pending.difference_update(queues)
            self._pending.discard(ANY_QUEUE)
        return hit

    def _note(self, queue: str) -> None:
        with self._cond:
            self._pending.add(queue)
            self._cond.notify_all()

    def _run(self) -> None:
        delay = 0.0
        reconnecting = False
        while not self._stopping.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(self._listen)
                    self.listening.set()
                    if reconnecting:  # anything may have been enqueued meanwhile
                        self._note(ANY_QUEUE)
                    delay = 0.0
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._note(note.payload)
            except (psycopg.Error, OSError):
                pass  # the server restarts or is unreachable: waiters poll meanwhile
            self.listening.clear()
            reconnecting = True
            delay = min(max(delay * 2, 0.1), 2.0)
            self._stopping.wait(delay)
