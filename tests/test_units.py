"""Pure modules, no store: backoff, retry decisions, the transition table,
job ids, the codec, task options and error messages."""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
import time
from collections import deque
from datetime import datetime, timedelta

import pytest

import conveyor
from conveyor import Backoff, ConveyorError, DecodeError, EncodeError, JobFailed, JobState
from conveyor._ids import encode_bytes, new_id, new_ids
from conveyor.codec import JsonCodec
from conveyor.job import (
    ACTIVE_STATES,
    FINISHED_STATES,
    TRANSITIONS,
    ErrorInfo,
    JobRecord,
    Outcome,
    Reason,
    can_transition,
    sources_of,
)
from conveyor.retry import backoff_delay, should_retry
from conveyor.task import TaskOptions
from conveyor.worker._children import Call, ChildPool, Returned
from tests.helpers import wait_for

CROCKFORD_ORDER = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CROCKFORD = set(CROCKFORD_ORDER.decode())

# -- backoff ---------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [Backoff(), Backoff(base=0.5, factor=3.0, cap=20.0), Backoff(base=2.0, factor=1.0, cap=5.0)],
    ids=["default", "steep-capped", "flat"],
)
def test_full_jitter_stays_within_bounds(policy: Backoff) -> None:
    for attempt in range(1, 16):
        ceiling = min(policy.cap, policy.base * policy.factor ** (attempt - 1))
        draws = [policy.delay(attempt) for _ in range(300)]
        assert all(0.0 <= draw <= ceiling for draw in draws), (attempt, ceiling)
        assert len(set(draws)) > 1  # jittered, not a constant
        if ceiling > 0:
            # 300 uniform draws all landing in the lower half: odds 2**-300.
            assert max(draws) > ceiling / 2


def test_no_jitter_is_the_exact_capped_exponential() -> None:
    policy = Backoff(base=1.0, factor=2.0, cap=10.0, jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.delay(0) == 1.0  # attempt numbers start at 1; 0 is treated as 1
    assert Backoff(base=3.0, factor=1.5, cap=1e9, jitter=False).delay(3) == pytest.approx(6.75)
    assert Backoff(jitter=False).delay(100) == 600.0


@pytest.mark.parametrize(
    "kwargs", [{"base": -1.0}, {"factor": 0.5}, {"cap": -0.1}], ids=["base", "factor", "cap"]
)
def test_backoff_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_backoff_delay_accepts_every_policy_kind() -> None:
    assert backoff_delay(2.5, 7) == 2.5
    assert backoff_delay(0, 1) == 0.0
    assert backoff_delay(-3, 1) == 0.0
    assert backoff_delay(lambda attempt: attempt * 10, 3) == 30.0
    assert backoff_delay(lambda attempt: -5, 3) == 0.0
    assert backoff_delay(Backoff(base=4, jitter=False), 2) == 8.0


# -- retry decisions -------------------------------------------------------


class Transient(Exception):
    pass


class VeryTransient(Transient):
    pass


def test_should_retry() -> None:
    assert should_retry(ValueError(), None, ())
    assert should_retry(VeryTransient(), (Transient,), ())
    assert not should_retry(ValueError(), (Transient,), ())
    assert not should_retry(VeryTransient(), None, (Transient,))
    assert not should_retry(VeryTransient(), (Transient,), (VeryTransient,))
    assert should_retry(Transient(), (Transient,), (VeryTransient,))
    assert not should_retry(KeyError(), (), ())  # an empty retry_on retries nothing


# -- states and transitions ------------------------------------------------


def test_transition_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(JobState)
    for source, targets in TRANSITIONS.items():
        assert source not in targets, f"{source} lists itself"
        assert targets <= set(JobState)


def test_finished_states_have_only_the_documented_exits() -> None:
    assert {JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED} == FINISHED_STATES
    assert TRANSITIONS[JobState.SUCCEEDED] == frozenset()
    assert TRANSITIONS[JobState.CANCELLED] == frozenset()
    assert TRANSITIONS[JobState.DEAD] == {JobState.QUEUED}  # the dead-letter replay


def test_active_states_are_the_rest_and_all_can_finish() -> None:
    assert set(JobState) - FINISHED_STATES == ACTIVE_STATES
    for state in ACTIVE_STATES:
        reachable = _reachable_from(state)
        assert {JobState.SUCCEEDED, JobState.DEAD} <= reachable
        assert reachable & FINISHED_STATES, f"{state} can never finish"
    assert TRANSITIONS[JobState.RUNNING] == {
        JobState.SUCCEEDED, JobState.SCHEDULED, JobState.QUEUED, JobState.DEAD,
        JobState.CANCELLED,
    }  # fmt: skip
    assert can_transition(JobState.RUNNING, JobState.CANCELLED)
    with pytest.raises(ValueError, match="cannot end"):  # the canceller's edge only
        Outcome("j", 1, JobState.CANCELLED)
    assert TRANSITIONS[JobState.SCHEDULED] == {JobState.QUEUED, JobState.CANCELLED}
    assert TRANSITIONS[JobState.QUEUED] == {JobState.RUNNING, JobState.CANCELLED}


def test_every_state_is_reachable_from_enqueue() -> None:
    assert _reachable_from(JobState.QUEUED) | {JobState.QUEUED} == set(JobState)
    assert _reachable_from(JobState.SCHEDULED) | {JobState.SCHEDULED} == set(JobState)


def test_sources_of_inverts_the_table() -> None:
    for target in JobState:
        sources = sources_of(target)
        assert set(sources) == {s for s in JobState if target in TRANSITIONS[s]}
        assert list(sources) == [s for s in JobState if s in sources]  # stable order
    assert sources_of(JobState.CANCELLED) == (JobState.SCHEDULED, JobState.QUEUED, JobState.RUNNING)


@pytest.mark.parametrize(
    "state", sorted(set(JobState) - TRANSITIONS[JobState.RUNNING]), ids=lambda s: s.value
)
def test_an_attempt_cannot_end_outside_the_table(state: JobState) -> None:
    with pytest.raises(ValueError, match="cannot end"):
        Outcome("job", 1, state)


def test_reasons_are_the_documented_codes() -> None:
    assert {reason.value for reason in Reason} == {
        "max_attempts", "not_retried", "unknown_task", "decode_error", "bad_arguments",
        "result_encode_error", "worker_lost", "timeout", "cancelled",
    }  # fmt: skip


def _reachable_from(state: JobState) -> set[JobState]:
    seen: set[JobState] = set()
    todo = deque(TRANSITIONS[state])
    while todo:
        current = todo.popleft()
        if current not in seen:
            seen.add(current)
            todo.extend(TRANSITIONS[current])
    return seen


# -- job ids ---------------------------------------------------------------


def test_job_ids_are_unique_and_well_formed() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(job_id) == 26 and set(job_id) <= CROCKFORD for job_id in ids)


def test_a_batch_of_ids_is_unique_well_formed_and_of_its_millisecond() -> None:
    """`enqueue_many` takes its ids from one read of random bytes: each id
    must still get its own ten bytes of it."""
    before = time.time_ns() // 1_000_000
    batches = [new_ids(5_000) for _ in range(4)]
    after = time.time_ns() // 1_000_000
    ids = [job_id for batch in batches for job_id in batch]
    assert [len(batch) for batch in batches] == [5_000] * 4 and new_ids(0) == []
    assert len(set(ids)) == len(ids)
    assert len({job_id[10:] for job_id in ids}) == len(ids)
    assert all(len(job_id) == 26 and set(job_id) <= CROCKFORD for job_id in ids)
    assert all(before <= millis_of(batch[0]) == millis_of(batch[-1]) <= after for batch in batches)


def test_the_random_part_of_an_id_is_crockford_base32_of_its_bytes() -> None:
    """The table lookup must agree with base32 bit for bit: ids written by
    earlier versions sort and read the same."""
    rfc4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CROCKFORD_ORDER)
    samples = [bytes(10), b"\xff" * 10, bytes(range(10))] + [os.urandom(10) for _ in range(2_000)]
    for data in samples:
        assert encode_bytes(data) == base64.b32encode(data).translate(rfc4648).decode()


def test_job_ids_sort_by_creation_time() -> None:
    earlier = []
    for _ in range(5):
        earlier.append(new_id())
        stamp = time.time_ns() // 1_000_000
        wait_for(lambda s=stamp: time.time_ns() // 1_000_000 > s, timeout=5, interval=0.0005)
    assert earlier == sorted(earlier)


def test_job_id_carries_its_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    job_id = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= millis_of(job_id) <= after


def millis_of(job_id: str) -> int:
    millis = 0
    for char in job_id[:10]:
        millis = millis * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    return millis


# -- the codec -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        ((1, -2.5, "text", None, True), {}),
        (("ünïcödé ✓", "\u0000nul"), {"nested": {"list": [1, [2, {"three": 3}]]}}),
        ((), {"big": 2**70, "empty": "", "zero": 0.0}),
    ],
)
def test_payload_round_trip(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    codec = JsonCodec()
    encoded = codec.encode_payload(args, kwargs)
    assert isinstance(encoded, str)
    assert codec.decode_payload(encoded) == (list(args), kwargs)
    # The stored text is the standard library's, byte for byte.
    standard = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert encoded == standard.encode({"args": list(args), "kwargs": kwargs})
    assert codec.encode_result(kwargs) == standard.encode(kwargs)


def test_tuples_come_back_as_lists() -> None:
    codec = JsonCodec()
    assert codec.decode_payload(codec.encode_payload(((1, 2),), {})) == ([[1, 2]], {})


def circular() -> list[object]:
    loop: list[object] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    "value",
    [
        object(), {1, 2}, b"x", float("nan"), float("inf"), datetime(2030, 1, 1), {(1,): 2},
        circular(),
    ],
    ids=["object", "set", "bytes", "nan", "inf", "datetime", "tuple-key", "circular"],
)  # fmt: skip
def test_non_json_values_are_refused(value: object) -> None:
    codec = JsonCodec()
    with pytest.raises(EncodeError) as payload_error:
        codec.encode_payload([value], {})
    with pytest.raises(EncodeError):
        codec.encode_payload([], {"value": value})
    with pytest.raises(EncodeError):
        codec.encode_result(value)
    assert isinstance(payload_error.value, TypeError)
    assert isinstance(payload_error.value, ConveyorError)
    assert codec.encode_result({"after": [value is None]}) == '{"after":[false]}'


@pytest.mark.parametrize(
    "payload",
    ["not json", "", "[1, 2]", '"text"', '{"args": 1}', '{"kwargs": [1]}', "{'args': []}"],
)
def test_bad_payloads_are_decode_errors(payload: str) -> None:
    with pytest.raises(DecodeError) as caught:
        JsonCodec().decode_payload(payload)
    assert isinstance(caught.value, ValueError)


def test_payload_parts_default_to_empty() -> None:
    assert JsonCodec().decode_payload("{}") == ([], {})
    assert JsonCodec().decode_payload('{"args": [1]}') == ([1], {})


def test_result_round_trip_and_errors() -> None:
    codec = JsonCodec()
    for value in (None, 0, "é", [1, {"a": None}], {"n": 1.5}):
        assert codec.decode_result(codec.encode_result(value)) == value
    assert codec.decode_result(None) is None
    with pytest.raises(DecodeError):
        codec.decode_result("{broken")


# -- task options ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"queue": ""}, "queue"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"delay": -0.5}, "delay"),
        ({"delay": timedelta(seconds=-1)}, "delay"),
        ({"at": datetime(2030, 1, 1)}, "timezone"),
    ],
)
def test_task_options_refuse_nonsense(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TaskOptions(**kwargs)  # type: ignore[arg-type]


# -- errors ----------------------------------------------------------------


def test_job_failed_says_what_happened() -> None:
    error = ErrorInfo(attempt=3, type="ValueError", message="bad order", traceback="tb")
    record = JobRecord(
        id="01ABC", task="shop.charge", queue="default", payload="{}", state=JobState.DEAD,
        priority=0, attempt=3, max_attempts=3, run_at=0.0, created_at=0.0,
        reason="max_attempts", errors=(ErrorInfo(1, "KeyError", "first"), error),
    )  # fmt: skip

    failed = JobFailed(record)

    assert isinstance(failed, ConveyorError)
    assert (failed.job_id, failed.state, failed.reason, failed.error) == (
        "01ABC", JobState.DEAD, "max_attempts", error,
    )  # fmt: skip
    for part in ("01ABC", "shop.charge", "dead", "max_attempts", "ValueError", "bad order"):
        assert part in str(failed)


def test_error_info_round_trips_through_a_dict() -> None:
    info = ErrorInfo(attempt=2, type="x.Y", message="m", traceback="t", at=12.5)
    assert ErrorInfo.from_dict(info.to_dict()) == info
    assert ErrorInfo.from_dict({}) == ErrorInfo(0, "", "", "", 0.0)
    assert math.isclose(ErrorInfo(1, "T", "m").at, time.time(), abs_tol=5)


def _pid_call() -> Call:
    return Call("tests.apps.process_tasks", "pid", [], {}, new_id(), "pid", "default", 1, 1)


@pytest.mark.parametrize(("max_memory", "reused"), [(None, True), (2**40, True), (1, False)])
def test_a_child_past_max_memory_is_replaced_after_its_attempt(
    max_memory: int | None, reused: bool
) -> None:
    """A leak in task code grows the child, not the worker: the child must be
    measured on its own, and replaced only once its attempt has answered."""
    pool = ChildPool(max_memory)
    try:
        first = pool.run(_pid_call(), None, lambda: False)
        second = pool.run(_pid_call(), None, lambda: False)
    finally:
        pool.close()
    assert isinstance(first, Returned) and isinstance(second, Returned)  # both answered
    assert (first.result == second.result) is reused


def test_importing_conveyor_leaves_the_worker_unloaded() -> None:
    """An app that only enqueues does not pay for the worker's imports; the
    names stay importable from the package and are the worker's own."""
    probe = (
        "import sys, conveyor\n"
        "print(sorted(m for m in ('conveyor.worker', 'asyncio', 'multiprocessing')"
        " if m in sys.modules))\n"
        "from conveyor import Worker, WorkerStats\n"
        "import conveyor.worker as w\n"
        "print(Worker is w.Worker and WorkerStats is w.WorkerStats, 'Worker' in dir(conveyor))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["[]", "True True"]
    with pytest.raises(AttributeError, match="no attribute 'Wroker'"):
        conveyor.Wroker  # type: ignore[attr-defined]  # noqa: B018
