"""ULID identifiers: 128-bit, lexicographically sortable by creation time (Crockford base32, 26 characters)."""

from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid() -> str:
    """A new ULID; ids made in the same millisecond by this process still sort in creation order (monotonic)."""
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            now_ms = _last_ms
            random_part = (_last_random + 1) & ((1 << 80) - 1)
        else:
            random_part = int.from_bytes(os.urandom(10), "big")
        _last_ms, _last_random = now_ms, random_part
    return _encode(now_ms, 10) + _encode(random_part, 16)


def is_ulid(value: str) -> bool:
    return bool(_ULID_RE.match(value))


def ulid_timestamp_ms(value: str) -> int:
    result = 0
    for char in value[:10]:
        result = result * 32 + _ALPHABET.index(char)
    return result
