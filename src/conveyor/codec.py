"""JSON encoding of job payloads and results.

JSON is the wire format on every store: a job store must never be a path to
code execution, so nothing here can rebuild an arbitrary object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from conveyor.errors import DecodeError, EncodeError

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class JsonCodec:
    """Payloads are ``{"args": [...], "kwargs": {...}}``; results are any JSON value."""

    def encode_payload(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
        try:
            return _encoder.encode({"args": list(args), "kwargs": dict(kwargs)})
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"job arguments are not JSON-serialisable: {exc}") from exc

    def decode_payload(self, payload: str) -> tuple[list[Any], dict[str, Any]]:
        try:
            data = json.loads(payload)
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"payload is not valid JSON: {exc}") from exc
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("args", []), list)
            or not isinstance(data.get("kwargs", {}), dict)
        ):
            raise DecodeError("payload is not an object with 'args' list and 'kwargs' object")
        return data.get("args", []), data.get("kwargs", {})

    def encode_result(self, value: Any) -> str:
        try:
            return _encoder.encode(value)
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"result is not JSON-serialisable: {exc}") from exc

    def decode_result(self, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DecodeError(f"stored result is not valid JSON: {exc}") from exc
