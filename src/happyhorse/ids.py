"""Identifiers: a prefix and a lowercase ULID (time-ordered, 128 bits).

Because the first 48 bits are the creation time in milliseconds, ids of one
kind sort by creation time, which is what cursor pagination relies on.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_lock = threading.Lock()
_last = (0, 0)


def _ulid() -> str:
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _last
        if ms <= last_ms:
            # Same millisecond (or the clock stepped back): keep order by counting up.
            ms, rand = last_ms, (last_rand + 1) & ((1 << 80) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last = (ms, rand)
    value = (ms << 80) | rand
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new id such as ``job_01jd5x...``."""
    return f"{prefix}_{_ulid()}"



def id_pattern(prefix: str) -> str:
    """The regular expression of an id made by ``new_id(prefix)`` (as documented: 26 characters
    of ``[0-9a-z]``, a little looser than the ULID alphabet), without anchors."""
    return rf"{prefix}_[0-9a-z]{{26}}"


@functools.lru_cache(maxsize=None)
def _id_regex(prefix: str) -> re.Pattern[str]:
    return re.compile(id_pattern(prefix))


def is_id(text: str, prefix: str) -> bool:
    """Whether ``text`` has the shape of an id made by ``new_id(prefix)``. One that cannot exist is
    answered "not found" without a query: no odd bytes (a NUL) ever reach the database."""
    return _id_regex(prefix).fullmatch(text) is not None
