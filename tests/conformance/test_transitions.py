"""Every store primitive, applied to a job in every state, moves it only along
an edge of `conveyor.job.TRANSITIONS` — and exactly the edge it should."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from conveyor import Conveyor, JobState
from conveyor.job import ACTIVE_STATES, TRANSITIONS, ErrorInfo, JobRecord, Outcome
from conveyor.stores.base import Lease, Store
from tests.helpers import get, job_in_state, worker_info


@dataclass(frozen=True)
class Operation:
    name: str
    #: Applies the operation to the job; returns what the store reported.
    apply: Callable[[Store, JobRecord], object]
    #: The state it must leave a job in, given the state before.
    expected: Callable[[JobState], JobState]
    #: What the store must report, given the state before.
    reported: Callable[[JobState], object]


def finish_as(target: JobState) -> Operation:
    def apply(store: Store, record: JobRecord) -> object:
        error = None if target is JobState.SUCCEEDED else ErrorInfo(record.attempt, "E", "m")
        outcome = Outcome(
            record.id,
            record.attempt,
            target,
            result="1" if target is JobState.SUCCEEDED else None,
            error=error if target is not JobState.QUEUED else None,
            reason="max_attempts" if target is JobState.DEAD else None,
        )
        return store.finish([outcome])

    return Operation(
        f"finish-{target.value}",
        apply,
        expected=lambda before: target if before is JobState.RUNNING else before,
        reported=lambda before: 1 if before is JobState.RUNNING else 0,
    )


def claimed_ids(store: Store, record: JobRecord) -> object:
    return [claimed.id for claimed in store.claim(["default"], "other-worker", 10, 60.0)]


def heartbeat(store: Store, record: JobRecord) -> object:
    return store.heartbeat(worker_info(), [Lease(record.id, record.attempt)], 60.0)


OPERATIONS = [
    Operation(
        "cancel",
        lambda store, record: store.cancel(record.id),
        expected=lambda before: JobState.CANCELLED if before in ACTIVE_STATES else before,
        reported=lambda before: before in ACTIVE_STATES,
    ),
    Operation(
        "requeue_dead",
        lambda store, record: store.requeue_dead([record.id]),
        expected=lambda before: JobState.QUEUED if before is JobState.DEAD else before,
        reported=lambda before: 1 if before is JobState.DEAD else 0,
    ),
    Operation(
        "claim",
        claimed_ids,
        expected=lambda before: JobState.RUNNING if before is JobState.QUEUED else before,
        reported=lambda before: ["<the job>"] if before is JobState.QUEUED else [],
    ),
    Operation(
        "recover",
        lambda store, record: store.recover(),
        expected=lambda before: before,  # every lease here is a minute long
        reported=lambda before: 0,
    ),
    Operation(
        "heartbeat",
        heartbeat,
        expected=lambda before: before,
        # A lease it cannot extend comes back: the job is not running.
        reported=lambda before: [] if before is JobState.RUNNING else ["<the job>"],
    ),
    # Cancelling is the canceller's edge out of running, not an outcome's.
    *(finish_as(t) for t in sorted(TRANSITIONS[JobState.RUNNING] - {JobState.CANCELLED})),
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
@pytest.mark.parametrize("before", list(JobState), ids=lambda state: state.value)
def test_operation_moves_only_along_an_allowed_edge(
    app: Conveyor, operation: Operation, before: JobState
) -> None:
    store = app.store
    record = job_in_state(store, before)

    reported = operation.apply(store, record)

    after = get(store, record.id)
    assert after.state is before or after.state in TRANSITIONS[before], (
        f"{operation.name} moved a {before} job to {after.state}, which TRANSITIONS forbids"
    )
    assert after.state is operation.expected(before)
    expected_report = operation.reported(before)
    if expected_report == ["<the job>"]:
        expected_report = [record.id]
    assert reported == expected_report
    if after.state is before and before is not JobState.RUNNING:
        assert after == record, f"{operation.name} changed a {before} job it did not move"
