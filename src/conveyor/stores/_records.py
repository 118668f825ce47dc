"""Turning stored rows into `JobRecord`s, shared by the stores that keep rows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conveyor.job import ErrorInfo, JobRecord, JobState

#: Columns of a job row, in `JobRecord` field order.
JOB_COLUMNS = (
    "id", "task", "queue", "payload", "state", "priority", "attempt", "max_attempts",
    "run_at", "created_at", "timeout", "key", "started_at", "finished_at",
    "lease_expires_at", "worker", "result", "reason", "errors",
)  # fmt: skip


def parse_errors(raw: str | list[Any] | None) -> tuple[ErrorInfo, ...]:
    if not raw or raw == "[]":
        return ()
    items = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(ErrorInfo.from_dict(item) for item in items)


def record_from_row(row: Mapping[str, Any]) -> JobRecord:
    return JobRecord(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        payload=row["payload"],
        state=JobState(row["state"]),
        priority=row["priority"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        timeout=row["timeout"],
        key=row["key"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        lease_expires_at=row["lease_expires_at"],
        worker=row["worker"],
        result=row["result"],
        reason=row["reason"],
        errors=parse_errors(row["errors"]),
    )


def error_json(error: ErrorInfo | None) -> str | None:
    return None if error is None else json.dumps(error.to_dict())
