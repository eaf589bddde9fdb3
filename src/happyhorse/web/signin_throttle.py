"""Password guessing is slowed down, without letting a guesser lock the owner out.

Each failed sign-in (and each sign-up for a taken email with another
password) takes a token from three buckets
(:class:`~happyhorse.api.rate_limit.TokenBuckets`); while any is empty,
``POST /signin`` answers 429 with ``Retry-After`` before it looks at the password:

- **this email from this address** (the tight one): ``PAIR_BURST`` tries, then
  one every ``PAIR_REFILL_SECONDS``. The owner, signing in from another
  address, is not held up by a guesser here;
- **this address, over all emails**: ``ADDRESS_BURST``, then one every
  ``ADDRESS_REFILL_SECONDS`` (one address spraying many emails);
- **this email, over all addresses** (much looser): ``EMAIL_BURST``, then one
  every ``EMAIL_REFILL_SECONDS``. It caps what many addresses together can
  guess against one account; the price is that a guesser with at least
  ``EMAIL_BURST / PAIR_BURST`` addresses (IPv6: /64s) can still hold the
  owner up. Without it such a guesser would get unlimited guesses.

Successful sign-ins cost nothing. Password checks from one address run one at a
time (:meth:`SignInThrottle.one_at_a_time`), so parallel guesses are counted
like sequential ones and one address cannot keep every thread busy hashing.

The buckets live in the API process's memory, like the per-key rate limit:
with several API replicas each keeps its own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from happyhorse.api.rate_limit import TokenBuckets
from happyhorse.web.emails import email_throttle_key

PAIR_BURST = 10
PAIR_REFILL_SECONDS = 30.0
ADDRESS_BURST = 50
ADDRESS_REFILL_SECONDS = 5.0
EMAIL_BURST = 100
EMAIL_REFILL_SECONDS = 10.0


class SignInThrottle:
    """Counts failed sign-ins by (email, address), by address and by email. Used from the event loop only."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_pair = TokenBuckets(1 / PAIR_REFILL_SECONDS, PAIR_BURST, clock=clock)
        self._by_address = TokenBuckets(1 / ADDRESS_REFILL_SECONDS, ADDRESS_BURST, clock=clock)
        self._by_email = TokenBuckets(1 / EMAIL_REFILL_SECONDS, EMAIL_BURST, clock=clock)
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    def retry_after(self, email: str, address: str) -> int:
        """Whole seconds to wait before this email may be tried from this address (0: go ahead)."""
        wait = max(bucket.wait_time(name) for bucket, name in self._names(email, address))
        return math.ceil(wait)

    def failed(self, email: str, address: str) -> None:
        for bucket, name in self._names(email, address):
            bucket.take(name)

    @asynccontextmanager
    async def one_at_a_time(self, address: str) -> AsyncIterator[None]:
        """Hold this address's turn: check the throttle, the password, and record the outcome inside it."""
        lock, waiting = self._turns.get(address, (None, 0))
        lock = lock or asyncio.Lock()
        self._turns[address] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            _, waiting = self._turns[address]
            if waiting == 1:
                del self._turns[address]  # nobody else waits: forget it (the dict stays small)
            else:
                self._turns[address] = (lock, waiting - 1)

    def _names(self, email: str, address: str) -> tuple[tuple[TokenBuckets, bytes], ...]:
        # Spellings of one email (case, spaces, full-width letters) share its buckets.
        email_key, address_key = email_throttle_key(email), address.encode("utf-8", "surrogatepass")
        pair_key = len(address_key).to_bytes(4, "big") + address_key + email_key  # unambiguous: length first
        return ((self._by_pair, pair_key), (self._by_address, address_key),
                (self._by_email, email_key))
