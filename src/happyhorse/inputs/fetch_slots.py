"""How many submits may be fetching image URLs at once in this API process.

A submit whose images are URLs fetches them inside its request (see
:mod:`happyhorse.submit.service`), on a thread of the API's pool, for as long as
the remote host takes within the fetch budget. A host that trickles bytes
would let one account tie up those threads (and the submitter's own
connection is all it pays), so:

- per account, at most ``per_account`` submits fetch at a time (default 2);
- in all, at most ``total`` (default 16), well under the 40 threads the API
  shares with every other blocking call, so slow hosts can never take them all.

Past either cap the submit is a 429 ``too_many_fetches`` with ``Retry-After``,
before anything is fetched or written. The counts are per process: with N API
replicas an account may fetch ``N x per_account`` at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from happyhorse.errors import RateLimited

FETCH_RETRY_AFTER_SECONDS = 5
"""What a 429 ``too_many_fetches`` tells clients to wait: a fetch ends within its budget (20 s) or sooner."""


class FetchSlots:
    """Counts the submits fetching right now, per account and in all. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_account: Counter[str] = Counter()
        self._total = 0

    @contextmanager
    def hold(self, account_id: str, *, per_account: int, total: int) -> Iterator[None]:
        """Hold one slot of ``account_id`` for the ``with`` block, or raise 429
        ``too_many_fetches`` at once if a cap is reached (0: no cap)."""
        with self._lock:
            if per_account > 0 and self._by_account[account_id] >= per_account:
                raise _too_many(
                    f"this account already has {per_account} requests fetching image URLs; wait for them to "
                    "finish, or send the images as uploads (POST /v1/uploads) or data URIs"
                )
            if total > 0 and self._total >= total:
                raise _too_many(
                    f"the server is fetching {total} image URLs already; retry shortly, or send the images "
                    "as uploads (POST /v1/uploads) or data URIs"
                )
            self._by_account[account_id] += 1
            self._total += 1
        try:
            yield
        finally:
            with self._lock:
                self._total -= 1
                self._by_account[account_id] -= 1
                if self._by_account[account_id] <= 0:
                    del self._by_account[account_id]

    def in_use(self, account_id: str | None = None) -> int:
        """Slots held now: the account's, or all of them."""
        with self._lock:
            return self._total if account_id is None else self._by_account[account_id]


def _too_many(message: str) -> RateLimited:
    return RateLimited(
        "too_many_fetches", f"too many image URL fetches: {message}", "image",
        headers={"Retry-After": str(FETCH_RETRY_AFTER_SECONDS)},
    )


SUBMIT_FETCHES = FetchSlots()
"""The process's slots: the caps are per API process, as the threads they protect are."""
