"""This process's open event streams: the per-key cap, and the one poller that feeds them all.

Each ``GET /v1/jobs/{id}/events`` stream takes a slot here for as long as it is
open; a key holding ``max_per_key`` slots gets 429 ``too_many_streams``, and so
does an account holding :data:`KEYS_PER_ACCOUNT` times that over all its keys
(keys cost nothing to make, so a per-key cap alone bounds nothing). One
background thread (the poller, started with the first stream and gone with
the last) reads, every :data:`POLL_SECONDS`, every watched job and whether
each stream's key still works, in one read transaction
(:func:`~happyhorse.jobs.watching.read_watched`), and wakes only the streams
whose job changed, or whose key was revoked (those end). So an open stream
costs the event loop nothing until its job changes, and no database read ever
runs on the event loop for it, however many streams are open.

On PostgreSQL the caps hold for the whole deployment: each stream also holds
a slot in the database (:class:`~happyhorse.api.shared_limits.StreamSlots`,
claimed by :meth:`StreamHub.claim_slot`). On SQLite (one API process) the
in-process counts are the caps.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from happyhorse.api.shared_limits import StreamSlots

from happyhorse.errors import RateLimited
from happyhorse.jobs.watching import JobSnapshot, Watched, read_watched

log = logging.getLogger("happyhorse.api.streams")

POLL_SECONDS = 0.25
"""How often the poller looks at the watched jobs (and keys): the latency of an event."""
KEYS_PER_ACCOUNT = 4
"""An account may hold this many keys' worth of streams at once (40 with the default per-key cap of 10)."""
STREAMS_RETRY_AFTER_SECONDS = 5
"""What a 429 ``too_many_streams`` tells clients to wait (a stream ends with its job)."""

State = tuple[str, int, "int | None"]


@dataclass(eq=False)
class OpenStream:
    """One open stream's slot; the poller follows its job once :meth:`StreamHub.follow` is called."""

    key_hash: str
    account_id: str
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    job_id: str | None = None
    latest: JobSnapshot | None = None
    """The newest changed snapshot, set on the event loop by the poller's delivery."""
    ended: bool = False
    """The key no longer works (or the job is gone): the stream closes without another event."""
    # The poller's own: the state last handed over, and whether the stream needs nothing more.
    sent: State | None = None
    done: bool = False
    slot_id: str | None = None
    """Its slot in the deployment's count (shared limits), if any."""


def too_many_streams(cap: int, holder: str = "an API key", *, scope: str = "per API process") -> RateLimited:
    return RateLimited(
        "too_many_streams",
        f"too many open event streams: {holder} may keep at most {cap} open at once ({scope}); "
        "close one, or poll GET /v1/jobs/{job_id} instead, then retry",
        None,
        headers={"Retry-After": str(STREAMS_RETRY_AFTER_SECONDS)},
    )


class StreamHub:
    """The open streams of one app, with their per-key cap and their shared poller thread."""

    def __init__(
        self, engine: Engine, *, max_per_key: int, poll_seconds: float = POLL_SECONDS,
        read: Callable[[Engine, set[str], set[str]], Watched] = read_watched, slots: StreamSlots | None = None,
    ) -> None:
        self.max_per_key = max_per_key
        self.slots = slots
        self.poll_seconds = poll_seconds
        self._engine = engine
        self._read = read
        self._lock = threading.Lock()
        self._streams: set[OpenStream] = set()
        self._per_key: Counter[str] = Counter()
        self._per_account: Counter[str] = Counter()
        self._poller: threading.Thread | None = None

    def open_count(self, key_hash: str | None = None) -> int:
        with self._lock:
            return len(self._streams) if key_hash is None else self._per_key[key_hash]

    def open(self, key_hash: str, account_id: str) -> OpenStream:
        """Take a slot for a new stream of ``key_hash`` in ``account_id`` (on the event loop); 429 past the
        key's or the account's cap (``max_per_key`` 0: no caps)."""
        with self._lock:
            if self.max_per_key > 0:
                if self._per_key[key_hash] >= self.max_per_key:
                    raise too_many_streams(self.max_per_key)
                if self._per_account[account_id] >= KEYS_PER_ACCOUNT * self.max_per_key:
                    raise too_many_streams(KEYS_PER_ACCOUNT * self.max_per_key, "an account, over all its keys,")
            stream = OpenStream(key_hash, account_id, asyncio.get_running_loop())
            self._per_key[key_hash] += 1
            self._per_account[account_id] += 1
            self._streams.add(stream)
        return stream

    def claim_slot(self, stream: OpenStream) -> None:
        """Count ``stream`` in the deployment's caps too (shared limits; blocking: off the event loop);
        429 past them."""
        if self.slots is not None and self.max_per_key > 0:
            stream.slot_id = self.slots.claim(stream.key_hash, stream.account_id, per_key=self.max_per_key,
                                              per_account=KEYS_PER_ACCOUNT * self.max_per_key)

    def follow(self, stream: OpenStream, job_id: str, sent: State) -> None:
        """Have the poller watch ``job_id`` for ``stream``, whose client has seen ``sent``."""
        with self._lock:
            stream.sent, stream.job_id = sent, job_id
            if stream in self._streams and self._poller is None:
                self._poller = threading.Thread(target=self._run, name="happyhorse-stream-poller", daemon=True)
                self._poller.start()

    def close(self, stream: OpenStream) -> None:
        """Give the slot back (a shared one on a background thread); closing twice is harmless."""
        slot_id, stream.slot_id = stream.slot_id, None
        if slot_id is not None and self.slots is not None:
            self.slots.release_soon(slot_id)
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)
                for counts, name in ((self._per_key, stream.key_hash), (self._per_account, stream.account_id)):
                    counts[name] -= 1
                    if counts[name] <= 0:
                        del counts[name]

    # -- the poller thread ---------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                watched = [s for s in self._streams if s.job_id is not None and not s.done]
                if not self._streams:
                    self._poller = None  # under the lock: the next follow() starts a fresh one
                    return
            if watched:
                self._deliver(self._changes(watched))
            time.sleep(self.poll_seconds)

    def _changes(self, watched: list[OpenStream]) -> list[tuple[OpenStream, JobSnapshot | None]]:
        try:
            seen = self._read(self._engine, {s.job_id for s in watched if s.job_id}, {s.key_hash for s in watched})
        except Exception:  # a database away: the streams wait (keep-alives go on) and the next tick retries
            log.warning("the event-stream poller could not read the watched jobs; retrying", exc_info=True)
            return []
        changes: list[tuple[OpenStream, JobSnapshot | None]] = []
        for stream in watched:
            snapshot = seen.jobs.get(stream.job_id or "")
            if snapshot is None or stream.key_hash not in seen.live_keys:
                stream.done = True
                changes.append((stream, None))
            elif snapshot.state != stream.sent:
                stream.sent, stream.done = snapshot.state, snapshot.job.is_terminal
                changes.append((stream, snapshot))
        return changes

    def _deliver(self, changes: list[tuple[OpenStream, JobSnapshot | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[OpenStream, JobSnapshot | None]]] = {}
        for change in changes:
            by_loop.setdefault(change[0].loop, []).append(change)
        for loop, batch in by_loop.items():
            try:
                loop.call_soon_threadsafe(_wake, batch)  # one hop to the loop per tick, not one per stream
            except RuntimeError:  # the loop is closed (shutdown): nobody is left to wake
                for stream, _ in batch:
                    self.close(stream)


def _wake(batch: list[tuple[OpenStream, JobSnapshot | None]]) -> None:
    for stream, snapshot in batch:
        if snapshot is None:
            stream.ended = True
        else:
            stream.latest = snapshot
        stream.wake.set()
