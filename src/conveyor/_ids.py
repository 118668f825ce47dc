"""Job ids: 26-character ULIDs, unique and sortable by creation time."""

from __future__ import annotations

import base64
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())

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
    """The 16-character rest of an id, from exactly 10 bytes."""
    return base64.b32encode(data).translate(_FROM_RFC4648).decode()


def new_id() -> str:
    """48 bits of milliseconds, then 80 random bits."""
    global _last
    ms = time.time_ns() // 1_000_000
    last_ms, prefix = _last
    if ms != last_ms:
        prefix = encode_time(ms)
        _last = (ms, prefix)
    return prefix + encode_bytes(os.urandom(10))
