"""Job ids: 26-character ULIDs, unique and sortable by creation time."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
#: Every two-character string, indexed by the 10 bits it encodes: an id's
#: random part is 8 lookups, twice as fast as ``base64.b32encode`` (pure
#: Python) and one id is made per enqueued job.
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)

#: The time part changes once a millisecond: kept, not re-encoded per id.
#: One tuple, so threads swap it whole.
_last: tuple[int, str] = (-1, "")


def encode_time(ms: int) -> str:
    """The 10-character time part of an id: 48 bits of milliseconds."""
    chars = []
    for _ in range(10):
        chars.append(_ALPHABET[ms & 31])
        ms >>= 5
    return "".join(reversed(chars))


def encode_bytes(data: bytes) -> str:
    """The 16-character rest of an id, from exactly 10 bytes (big-endian,
    as base32 reads them)."""
    n, p = int.from_bytes(data, "big"), _PAIRS
    return (
        p[n >> 70] + p[n >> 60 & 1023] + p[n >> 50 & 1023] + p[n >> 40 & 1023]
        + p[n >> 30 & 1023] + p[n >> 20 & 1023] + p[n >> 10 & 1023] + p[n & 1023]
    )  # fmt: skip


def _time_part() -> str:
    global _last
    ms = time.time_ns() // 1_000_000
    last_ms, prefix = _last
    if ms != last_ms:
        prefix = encode_time(ms)
        _last = (ms, prefix)
    return prefix


def new_id() -> str:
    """48 bits of milliseconds, then 80 random bits."""
    return _time_part() + encode_bytes(os.urandom(10))


def new_ids(count: int) -> list[str]:
    """`count` ids for one batch, with one time part and their random bits
    read at once: a system call per id was half the cost of `new_id` (0.85 µs
    an id against 1.5 in a batch of 1,000)."""
    prefix, data, encode = _time_part(), os.urandom(10 * count), encode_bytes
    return [prefix + encode(data[i : i + 10]) for i in range(0, 10 * count, 10)]
