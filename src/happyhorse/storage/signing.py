"""Signed, expiring URLs for stored objects (SPEC §8).

A URL for key ``k`` that stops working at unix time ``t`` is::

    /files/<k, percent-encoded>?expires=<t>&sig=<urlsafe base64 of HMAC-SHA256(secret, k, t), no padding>

Whoever holds the URL may read the object until ``t``; nobody can make one
for another key or a later time without the secret. The stable
``/v1/jobs/{id}/content`` route signs a fresh one for the job's owner.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import time
from urllib.parse import quote

from happyhorse.storage.base import checked_storage_key

FILES_PREFIX = "/files/"
"""Where the files router serves signed keys."""

# Domain separation: the same secret may sign other things elsewhere.
_CONTEXT = b"happyhorse.files.v1\n"
_EXPIRES_RE = re.compile(r"[0-9]{1,12}")
EXPIRY_GRANULARITY_SECONDS = 60
"""Expiry times are rounded up to the minute, so an object keeps one URL for up to a
minute: a player or cache sees the same URL on every poll, and it is signed once."""


class SignatureError(Exception):
    """A signed URL was refused."""


class SignatureInvalid(SignatureError):
    """The signature is missing, malformed, or was not made with our secret for this key and time."""


class SignatureExpired(SignatureError):
    """The signature is genuine but its expiry time has passed."""

    def __init__(self, expires_at: int) -> None:
        super().__init__(f"signed URL expired at {expires_at}")
        self.expires_at = expires_at


class UrlSigner:
    """Signs and verifies ``(key, expires)`` pairs with one HMAC-SHA256 secret."""

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or not secret:
            raise ValueError("the URL signing secret must be non-empty bytes")
        self._secret = secret
        self._signature = functools.lru_cache(maxsize=4096)(self._compute_signature)  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return "UrlSigner(secret=<hidden>)"

    def sign(self, key: str, *, expires_at: int) -> str:
        """The query string ``"expires=<expires_at>&sig=<sig>"`` that makes ``key`` readable until ``expires_at``."""
        checked_storage_key(key)
        expires_at = int(expires_at)
        return f"expires={expires_at}&sig={self._signature(key, expires_at)}"

    def signed_path(self, key: str, ttl_seconds: int, now: float | None = None) -> tuple[str, int]:
        """``("/files/<key>?expires=..&sig=..", expires_at)`` for a URL valid at least ``ttl_seconds``
        from ``now`` (the expiry is rounded up to :data:`EXPIRY_GRANULARITY_SECONDS`)."""
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        current = time.time() if now is None else now
        granularity = EXPIRY_GRANULARITY_SECONDS
        expires_at = -(-(int(current) + int(ttl_seconds)) // granularity) * granularity
        path = FILES_PREFIX + quote(key, safe="/")
        return f"{path}?{self.sign(key, expires_at=expires_at)}", expires_at

    def verify(self, key: str, expires: str | int | None, sig: str | None, now: float | None = None) -> int:
        """Return the expiry time if ``sig`` is ours for ``key`` and ``expires`` and it has not passed.

        Raises :class:`SignatureInvalid` (checked first, so a forged URL never
        learns whether it would have expired) or :class:`SignatureExpired`.
        """
        if expires is None or sig is None:
            raise SignatureInvalid("the URL has no signature")
        expires_text = str(expires)
        if not _EXPIRES_RE.fullmatch(expires_text):
            raise SignatureInvalid("the URL's expiry is malformed")
        expires_at = int(expires_text)
        try:
            checked_storage_key(key)
        except ValueError:
            raise SignatureInvalid("the URL names an invalid key") from None
        expected = self._signature(key, expires_at).encode("ascii")
        # Bytes, not str: compare_digest refuses non-ASCII str, and a forged sig may be anything.
        if not hmac.compare_digest(expected, sig.encode("utf-8", "surrogatepass")):
            raise SignatureInvalid("the URL's signature does not match")
        current = time.time() if now is None else now
        if current >= expires_at:
            raise SignatureExpired(expires_at)
        return expires_at

    def _compute_signature(self, key: str, expires_at: int) -> str:
        # Keys cannot contain control characters, so "\n" separates the fields unambiguously.
        message = _CONTEXT + key.encode("utf-8") + b"\n" + str(expires_at).encode("ascii")
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
