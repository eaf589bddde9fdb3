"""Password hashing: argon2id (argon2-cffi's defaults, RFC 9106's second recommendation)."""

from __future__ import annotations

from functools import lru_cache

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


@lru_cache(maxsize=1)
def _hasher():  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """The PHC string (``$argon2id$v=19$m=65536,t=3,p=4$...``) to store."""
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher().check_needs_rehash(stored_hash)


# A hash to verify against when the email is unknown, so that a sign-in for an
# unknown email takes as long as one for a known email (no user enumeration by timing).
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return hash_password("not a real password, only for timing")
