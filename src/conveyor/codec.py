"""JSON encoding of job payloads and results.

JSON is the wire format on every store: a job store must never be a path to
code execution, so nothing here can rebuild an arbitrary object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

from conveyor.errors import DecodeError, EncodeError

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _made_once() -> Callable[[Any], str]:
    """`_encoder.encode`, with its C encoder made once instead of on every
    call (as `JSONEncoder.iterencode` does): 0.8 µs for an empty payload
    instead of 1.9, paid for every job enqueued and every result stored.

    Without the C module (another Python) it is `_encoder.encode` itself.
    Cycles are not tracked (the C encoder takes its cycle markers once, and
    one failed call would leave them behind): a cycle ends in a
    `RecursionError`, which the callers report like any other bad value."""
    make_encoder = getattr(json.encoder, "c_make_encoder", None)  # not in the stubs
    if make_encoder is None:  # pragma: no cover (CPython has it)
        return _encoder.encode
    iterencode = make_encoder(
        None, _encoder.default, encode_basestring, None, ":", ",", False, False, False
    )
    return lambda value: "".join(iterencode(value, 0))


_encode = _made_once()
#: What a value that JSON cannot hold raises while it is encoded.
_NOT_JSON = (TypeError, ValueError, RecursionError)


class JsonCodec:
    """Payloads are ``{"args": [...], "kwargs": {...}}``; results are any JSON value."""

    def encode_payload(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
        try:
            return _encode({"args": list(args), "kwargs": dict(kwargs)})
        except _NOT_JSON as exc:
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
            return _encode(value)
        except _NOT_JSON as exc:
            raise EncodeError(f"result is not JSON-serialisable: {exc}") from exc

    def decode_result(self, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DecodeError(f"stored result is not valid JSON: {exc}") from exc
