"""The per-key request rate limit: a token bucket per API key, in this process.

Every ``/v1`` request that carries a well-formed key takes one token from its
key's bucket. The bucket is named by the key itself (the SHA-256 of the token,
parsed exactly as authentication parses it: scheme in any case, spaces
trimmed), never by the header's bytes, so ``bearer KEY`` and ``BEARER  KEY``
share one bucket. A bucket holds up to ``rate_limit_burst`` tokens and refills at
``rate_limit_per_second``. An empty bucket is a 429 ``rate_limit_exceeded``
with ``Retry-After``. It is an ASGI middleware, not a dependency, so the fast
polling route (a plain Starlette route) is covered too, at the cost of a dict
lookup and some arithmetic.

On SQLite (one API process) the buckets live in this process's memory. On
PostgreSQL they live in the database and hold for the whole deployment, however
many API replicas share it (:class:`~happyhorse.api.shared_limits.SharedTokenBuckets`:
tokens leased in batches, with the error margin documented there). Requests without an ``Authorization`` header, or with one that
authentication refuses by its shape alone (not ``Bearer``, a bad checksum), are
not counted here: they are answered 401 without touching the database anyway.
Well-formed keys that do not exist do get buckets (telling them apart needs the
database); the table is bounded (:data:`MAX_BUCKETS`), and a flood of made-up
keys evicts the least recently used buckets, never a busy key's.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from happyhorse.accounts import checked_key
from happyhorse.api.shared_limits import SharedTokenBuckets
from happyhorse.errors import AuthenticationFailed, RateLimited

# Past this many buckets (about 20 MB), idle ones are dropped, then the least
# recently used: a flood of made-up keys must not grow memory without bound.
MAX_BUCKETS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by key. Not thread-safe: it is used only from the event loop."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_buckets: int = MAX_BUCKETS
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_buckets = max(4, max_buckets)
        self._clock = clock
        self._buckets: dict[bytes, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, name: bytes) -> float:
        """Take a token for ``name``; returns 0 if granted, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._prune(now)
            bucket = self._buckets[name] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def wait_time(self, name: bytes) -> float:
        """Seconds until ``name`` has a token (0 if it has one now); takes nothing."""
        bucket = self._buckets.get(name)
        if bucket is None:
            return 0.0
        tokens = min(self.burst, bucket.tokens + (self._clock() - bucket.updated) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        # A bucket untouched for burst/rate seconds is full again: dropping it changes no answer.
        idle = self.burst / self.rate
        self._buckets = {name: b for name, b in self._buckets.items() if now - b.updated < idle}
        if len(self._buckets) >= self.max_buckets:
            # All busy (a flood of made-up keys): forget the least recently used quarter. Clearing
            # them all would hand every real key a fresh burst; a key in use was touched recently.
            evicted = heapq.nsmallest(self.max_buckets // 4, self._buckets.items(), key=lambda item: item[1].updated)
            for name, _ in evicted:
                del self._buckets[name]


def bucket_name(authorization: bytes) -> bytes | None:
    """The bucket of an ``Authorization`` value: the SHA-256 of the key in it, parsed as
    :func:`~happyhorse.accounts.checked_key` parses it for authentication; ``None`` for a
    value that authentication refuses by its shape alone (answered 401 at no database cost)."""
    try:
        key = checked_key(authorization.decode("latin-1"))
    except AuthenticationFailed:
        return None
    return hashlib.sha256(key.encode()).digest()


class RateLimitMiddleware:
    """Applies :class:`TokenBuckets` to ``/v1`` requests by their ``Authorization`` key.

    Installed inside the session-cookie middleware, so a browser session is
    limited by its own per-session key."""

    def __init__(self, app: ASGIApp, *, rate: float, burst: int, shared: SharedTokenBuckets | None = None) -> None:
        self.app = app
        self.enabled = rate > 0
        self.rate, self.burst = rate, max(1, burst)
        self.buckets = TokenBuckets(rate, burst) if self.enabled else None
        self.shared = shared if self.enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"authorization":
                # Named by the key, not the header's spelling (a checksum and a hash: microseconds).
                bucket = bucket_name(value)
                wait = 0.0 if bucket is None else await self._take(bucket)
                if wait > 0:
                    await _too_many(scope, self.rate, self.burst, wait)(scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)


    async def _take(self, bucket: bytes) -> float:
        """0 when ``bucket`` has a token (now taken), else the seconds until it has one."""
        if self.shared is None:
            assert self.buckets is not None
            return self.buckets.take(bucket)
        if self.shared.take_held(bucket):  # most requests of a busy key: no database round trip
            return 0.0
        return await run_in_threadpool(self.shared.lease, bucket)


def _too_many(scope: Scope, rate: float, burst: int, wait: float) -> JSONResponse:
    retry_after = max(1, math.ceil(wait))
    error = RateLimited(
        "rate_limit_exceeded",
        f"rate limit exceeded: {rate:g} requests per second per API key (bursts of {burst}); "
        f"retry after {retry_after} s",
        None,
        headers={"Retry-After": str(retry_after)},
    )
    request_id = scope.get("state", {}).get("request_id")
    return JSONResponse(error.to_dict(request_id), status_code=error.status, headers=error.headers)
