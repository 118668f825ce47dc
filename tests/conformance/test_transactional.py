"""Enqueue inside the caller's own transaction, on stores that can
(`Capabilities.transactional_enqueue`): the job exists if and when the
caller commits, and never if it rolls back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from urllib.parse import urlsplit

import pytest

from conveyor import Conveyor, JobState, StoreError
from tests.helpers import Calls


@pytest.fixture
def caller_connection(app: Conveyor) -> Iterator[Any]:
    """An open connection of the store's own driver, as the application has
    one, inside a transaction once it has written."""
    if not app.store.capabilities.transactional_enqueue:
        pytest.skip(f"{app.store.url}: no transactional enqueue")
    scheme = urlsplit(app.url).scheme
    if scheme == "sqlite":
        from conveyor.stores.sqlite import path_from_url

        with closing(sqlite3.connect(path_from_url(app.url))) as conn:
            yield conn
    elif scheme in ("postgresql", "postgres"):
        import psycopg

        with psycopg.connect(app.url) as conn:
            yield conn
    else:
        pytest.fail(f"no caller connection for {scheme}:// in this test: add one")


def test_rolled_back_enqueue_leaves_no_job(app: Conveyor, caller_connection: Any) -> None:
    @app.task()
    def charge(order: int) -> None:
        return None

    job = charge.options(connection=caller_connection).enqueue(7)
    caller_connection.rollback()

    assert app.job(job.id) is None
    assert app.store.list() == []
    assert app.run_worker(burst=True).processed == 0


def test_committed_enqueue_runs(app: Conveyor, caller_connection: Any) -> None:
    ran = Calls()

    @app.task()
    def ship(order: int) -> int:
        ran.add(order)
        return order

    in_tx = ship.options(connection=caller_connection)
    job = in_tx.enqueue(1)
    more = in_tx.enqueue_many([(2,), (3,)])
    assert app.store.get(job.id) is None  # not visible before the commit
    caller_connection.commit()

    assert job.state is JobState.QUEUED
    app.run_worker(burst=True)
    assert [j.result(timeout=5) for j in (job, *more)] == [1, 2, 3]
    assert len(ran) == 3


def test_unique_key_inside_the_callers_transaction(app: Conveyor, caller_connection: Any) -> None:
    @app.task()
    def welcome(user: int) -> None:
        return None

    first = welcome.options(key="welcome:1").enqueue(1)
    again = welcome.options(key="welcome:1", connection=caller_connection).enqueue(1)
    caller_connection.commit()

    assert again.id == first.id
    assert len(app.store.list()) == 1


@pytest.mark.parametrize("connection", [object(), "dbname=test"], ids=["object", "string"])
def test_a_connection_of_another_kind_is_refused(app: Conveyor, connection: object) -> None:
    if not app.store.capabilities.transactional_enqueue:
        pytest.skip(f"{app.store.url}: no transactional enqueue")

    @app.task()
    def noop() -> None:
        return None

    with pytest.raises(StoreError, match=type(connection).__name__):
        noop.options(connection=connection).enqueue()
    assert app.store.list() == []
