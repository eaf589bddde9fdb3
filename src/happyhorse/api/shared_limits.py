"""Limits that hold for a whole deployment, not per API process (PostgreSQL).

With one API process the in-process limits (:mod:`happyhorse.api.rate_limit`'s
token buckets, :mod:`happyhorse.api.streams`' caps) are exact. Behind a load
balancer, N replicas would give a key N times its rate and N times its
streams; so on PostgreSQL every API process takes them from the database (no
other server to run):

- **Rate**: each key's token bucket is a row of ``rate_buckets`` (the tokens
  left at a database-clock time; the refill is computed when it is read). A
  process takes tokens in batches (:meth:`SharedTokenBuckets.lease`: about a
  tenth of a second of the rate, at least 1, at most the burst) and spends them
  itself, so a busy key costs one short transaction per batch, not per request.
  The database never grants more than the bucket holds. **Error margin**: a
  process keeps unspent tokens for at most :data:`HELD_SECONDS`, so over any
  window a key gets at most ``rate × window + burst + batch × processes``
  requests, and may be refused while other processes still hold up to a batch
  each.
- **Streams**: each open event stream holds a row of ``stream_slots`` (its key,
  its account, an expiry), claimed under a per-account advisory lock when the
  stream opens, renewed every :data:`RENEW_SECONDS` by its process and deleted
  when it closes. The caps are exact; a process that dies leaves its slots
  until they expire (:data:`SLOT_SECONDS`).

If the database cannot be reached the rate limit lets requests through (they
meet the outage themselves, as a 503) rather than failing them for it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from happyhorse.api.streams import too_many_streams
from happyhorse.db.clock import read_db_now
from happyhorse.db.schema import rate_buckets, stream_slots
from happyhorse.ids import new_id

log = logging.getLogger("happyhorse.api.limits")

BATCH_SECONDS = 0.1
"""A lease takes this much of the rate's tokens at once (at least 1, at most the burst)."""
HELD_SECONDS = 1.0
"""Tokens a process has leased and not spent are dropped after this long."""
SLOT_SECONDS = 30.0
"""A stream slot lapses this long after its last renewal (its process died)."""
RENEW_SECONDS = 10.0
"""How often a process renews the slots of its open streams."""
PRUNE_SECONDS = 60.0
"""How often a process deletes buckets that have been full for a while (idle keys)."""


def shared_limits_apply(engine: Engine) -> bool:
    """Whether the deployment's limits live in the database (PostgreSQL) or in each process (SQLite)."""
    return engine.dialect.name == "postgresql"


@dataclass(slots=True)
class _Held:
    tokens: int
    leased_at: float


class SharedTokenBuckets:
    """Per-key token buckets in ``rate_buckets``, leased in batches (see the module docstring)."""

    def __init__(self, engine: Engine, rate: float, burst: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.rate = rate
        self.burst = max(1, burst)
        self.batch = max(1, min(self.burst, math.ceil(rate * BATCH_SECONDS)))
        self._clock = clock
        self._held: dict[bytes, _Held] = {}
        self._lock = threading.Lock()
        self._pruned_at = 0.0
        self._outage_logged = False

    def take_held(self, name: bytes) -> bool:
        """Spend a token this process holds for ``name``; False when it must :meth:`lease` first."""
        with self._lock:
            held = self._held.get(name)
            if held is None or held.tokens <= 0 or self._clock() - held.leased_at > HELD_SECONDS:
                return False
            held.tokens -= 1
            return True

    def lease(self, name: bytes) -> float:
        """Take a batch of ``name``'s tokens from the database and spend one (a blocking call: run it
        off the event loop). 0 when granted, else the seconds until a token is due."""
        try:
            available, granted = self._lease_from_database(name.hex())
        except Exception:
            if not self._outage_logged:
                self._outage_logged = True
                log.warning("rate limit: the database is unreachable; letting requests through", exc_info=True)
            return 0.0
        self._outage_logged = False
        if granted == 0:
            return (1.0 - available) / self.rate
        with self._lock:
            if len(self._held) > 10_000:
                now = self._clock()
                self._held = {k: h for k, h in self._held.items() if now - h.leased_at <= HELD_SECONDS}
            self._held[name] = _Held(granted - 1, self._clock())
        return 0.0

    def _lease_from_database(self, key_hash: str) -> tuple[float, int]:
        b = rate_buckets
        with self.engine.begin() as conn:
            now = read_db_now(conn)
            conn.execute(pg_insert(b).values(key_hash=key_hash, tokens=float(self.burst), updated_at=now)
                         .on_conflict_do_nothing())
            row = conn.execute(select(b.c.tokens, b.c.updated_at).where(b.c.key_hash == key_hash)
                               .with_for_update()).one()
            available = min(float(self.burst), row.tokens + max(0.0, now - row.updated_at) * self.rate)
            granted = min(self.batch, int(available))
            conn.execute(update(b).where(b.c.key_hash == key_hash)
                         .values(tokens=available - granted, updated_at=now))
            if now - self._pruned_at >= PRUNE_SECONDS:
                # A bucket untouched for burst/rate seconds is full: its row changes no answer.
                self._pruned_at = now
                conn.execute(delete(b).where(b.c.updated_at < now - self.burst / self.rate - PRUNE_SECONDS))
        return available, granted


class StreamSlots:
    """The deployment's open-stream slots in ``stream_slots``: claim, renew, release."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._releaser = ThreadPoolExecutor(1, thread_name_prefix="happyhorse-stream-release")

    def claim(self, key_hash: str, account_id: str, *, per_key: int, per_account: int) -> str:
        """A slot for a new stream (blocking: off the event loop); 429 ``too_many_streams`` past
        the key's or the account's cap for the deployment."""
        s = stream_slots
        with self.engine.begin() as conn:
            # One claimer per account at a time: the counts below stay true until the insert commits.
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("happyhorse-streams:" + account_id))))
            now = read_db_now(conn)
            conn.execute(delete(s).where(s.c.account_id == account_id, s.c.expires_at < now))
            of_key = conn.execute(select(func.count()).where(s.c.key_hash == key_hash)).scalar_one()
            of_account = conn.execute(select(func.count()).where(s.c.account_id == account_id)).scalar_one()
            if of_key >= per_key:
                raise too_many_streams(per_key, scope="in this deployment")
            if of_account >= per_account:
                raise too_many_streams(per_account, "an account, over all its keys,", scope="in this deployment")
            slot_id = new_id("slot")
            conn.execute(s.insert().values(id=slot_id, key_hash=key_hash, account_id=account_id,
                                           expires_at=now + SLOT_SECONDS))
        with self._lock:
            self._held.add(slot_id)
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew, name="happyhorse-stream-slots", daemon=True)
                self._renewer.start()
        return slot_id

    def release_soon(self, slot_id: str) -> None:
        """Give the slot back on a background thread (callable from the event loop, never blocks)."""
        with self._lock:
            self._held.discard(slot_id)  # renewed no more, whatever happens to the delete
        self._releaser.submit(self.release, slot_id)

    def release(self, slot_id: str) -> None:
        """Give the slot back (blocking); if the database is away, it lapses."""

        with self._lock:
            self._held.discard(slot_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(stream_slots).where(stream_slots.c.id == slot_id))
        except Exception:
            log.warning("could not release stream slot %s; it lapses in %.0fs", slot_id, SLOT_SECONDS, exc_info=True)

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def _renew(self) -> None:
        while True:
            time.sleep(RENEW_SECONDS)
            with self._lock:
                ids = sorted(self._held)
                if not ids:
                    self._renewer = None  # under the lock: the next claim starts a fresh one
                    return
            try:
                with self.engine.begin() as conn:
                    now = read_db_now(conn)
                    conn.execute(update(stream_slots).where(stream_slots.c.id.in_(ids))
                                 .values(expires_at=now + SLOT_SECONDS))
            except Exception:
                log.warning("could not renew %d stream slots; retrying", len(ids), exc_info=True)
