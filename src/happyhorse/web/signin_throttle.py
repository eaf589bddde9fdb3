"""Password guessing is slowed down: failed sign-ins are limited per email and per client address.

Each failed sign-in takes a token from the email's bucket and from the client
address's bucket (:class:`~happyhorse.api.rate_limit.TokenBuckets`). While
either is empty, ``POST /signin`` answers 429 with ``Retry-After`` before it
looks at the password, so a guesser gets ``EMAIL_BURST`` tries at once and
then one every ``EMAIL_REFILL_SECONDS``, whatever addresses it uses, and one
address gets ``ADDRESS_BURST`` tries over all emails, then one every
``ADDRESS_REFILL_SECONDS``. Successful sign-ins cost nothing.

The buckets live in the API process's memory, like the per-key rate limit:
with several API replicas each keeps its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from happyhorse.api.rate_limit import TokenBuckets

EMAIL_BURST = 10
EMAIL_REFILL_SECONDS = 30.0
ADDRESS_BURST = 50
ADDRESS_REFILL_SECONDS = 5.0


class SignInThrottle:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_email = TokenBuckets(1 / EMAIL_REFILL_SECONDS, EMAIL_BURST, clock=clock)
        self._by_address = TokenBuckets(1 / ADDRESS_REFILL_SECONDS, ADDRESS_BURST, clock=clock)

    def retry_after(self, email: str, address: str) -> int:
        """Whole seconds to wait before this email may be tried from this address (0: go ahead)."""
        wait = max(self._by_email.wait_time(_email_key(email)), self._by_address.wait_time(address.encode()))
        return math.ceil(wait)

    def failed(self, email: str, address: str) -> None:
        self._by_email.take(_email_key(email))
        self._by_address.take(address.encode())


def _email_key(email: str) -> bytes:
    # Case and surrounding spaces do not make another email (the users table stores them normalised).
    return email.strip().lower().encode()
