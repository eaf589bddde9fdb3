"""Web sign-ups are limited per client address, so one client cannot farm accounts.

Every sign-up that gets past the form's own checks (a well-formed email, a
long enough password) takes a token from its client address's bucket, whether
it creates an account or meets a taken email: ``per_hour`` sign-ups at once,
then one every ``3600 / per_hour`` seconds. Past that, ``POST /signup`` is a
429 with ``Retry-After``. The token is taken before the account is written, so
parallel sign-ups are counted too. ``per_hour`` is
:attr:`~happyhorse.settings.Settings.signup_limit_per_hour` (``--signup-limit``);
0 turns the limit off. Addresses are counted as :mod:`happyhorse.web.client_address` says.

The buckets live in the API process's memory: with several API replicas each keeps its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from happyhorse.api.rate_limit import TokenBuckets


class SignUpThrottle:
    """Sign-ups per client address (see the module docstring); one per app, in ``app.state.signup_throttle``."""

    def __init__(self, per_hour: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self._by_address = TokenBuckets(per_hour / 3600, per_hour, clock=clock) if per_hour > 0 else None

    def take(self, address: str) -> int:
        """Count one sign-up from ``address``: 0 if it may go ahead, else the whole seconds to wait."""
        if self._by_address is None:
            return 0
        return math.ceil(self._by_address.take(address.encode("utf-8", "surrogatepass")))
