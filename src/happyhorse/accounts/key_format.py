"""The shape of an API key: ``hh_live_`` + 30 random characters + a 6-character checksum.

The 30 characters come from the URL-safe base64 alphabet (180 random bits).
The checksum is the CRC32 of everything before it, in base62: a CRC detects
every single-character typo and most other damage, so a malformed key is
refused (401 ``invalid_api_key``) by arithmetic alone, before any hashing or
database lookup, and secret scanners can tell a real key from noise.
"""

from __future__ import annotations

import secrets
import string
import zlib

KEY_PREFIX = "hh_live_"
BODY_CHARS = 30
CHECKSUM_CHARS = 6
KEY_LENGTH = len(KEY_PREFIX) + BODY_CHARS + CHECKSUM_CHARS
BODY_ALPHABET = string.ascii_letters + string.digits + "-_"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_BODY_SET = frozenset(BODY_ALPHABET)


def checksum(text: str) -> str:
    """CRC32 of ``text`` as 6 base62 digits (62**6 > 2**32, so nothing is lost)."""
    value = zlib.crc32(text.encode())
    digits = []
    for _ in range(CHECKSUM_CHARS):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def key_from_body(body: str) -> str:
    """The full key for 30 body characters (random, or derived as for a web session)."""
    if len(body) != BODY_CHARS or not _BODY_SET.issuperset(body):
        raise ValueError(f"a key body is {BODY_CHARS} characters of {BODY_ALPHABET!r}")
    head = KEY_PREFIX + body
    return head + checksum(head)


def new_key() -> str:
    """A fresh random key."""
    return key_from_body("".join(secrets.choice(BODY_ALPHABET) for _ in range(BODY_CHARS)))


def is_well_formed(key: str) -> bool:
    """Whether ``key`` has the prefix, the length, the alphabet and a matching checksum.

    Says nothing about whether the key exists: that is the database's answer."""
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return False
    head = key[:-CHECKSUM_CHARS]
    if not _BODY_SET.issuperset(head[len(KEY_PREFIX):]):
        return False
    # The checksum is not a secret, so a plain comparison leaks nothing.
    return checksum(head) == key[-CHECKSUM_CHARS:]
