"""The delivery loop: leases due deliveries, POSTs them signed, records the outcome, retries.

Several loops may run (every worker process and ``serve`` run one) on one
database: a delivery is leased like a job (``lease_token`` + ``lease_expires_at``,
claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and under ``BEGIN
IMMEDIATE`` on SQLite), the lease outlasts an attempt's time budget, and the
outcome is written only while the lease holds, so one event is never being
delivered to one endpoint by two loops at once.

Outcomes: 2xx → ``delivered``; 410 → the endpoint is disabled (with its other
pending deliveries); anything else (3xx, 4xx, 5xx, timeout, refused address) is
retried after ``min(max_delay, base · 2^attempts)`` seconds with full jitter,
until ``give_up_after`` seconds after the event (25 h by default): then ``failed``.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import case, or_, select, update
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import webhook_deliveries as deliveries
from happyhorse.db.schema import webhook_endpoints as endpoints
from happyhorse.db.schema import webhook_events as events
from happyhorse.inputs.fetch import Resolver
from happyhorse.logs import in_context
from happyhorse.webhooks.endpoints import disable_pending
from happyhorse.webhooks.sending import Attempt, payload, post_event

if TYPE_CHECKING:
    from happyhorse.metrics.registry import Metrics

log = logging.getLogger("happyhorse.webhooks")

# A recorded delivery's new status, as happyhorse_webhook_deliveries_total{outcome} counts it.
_OUTCOMES = {"delivered": "delivered", "pending": "retried", "failed": "failed", "disabled": "disabled"}


@dataclass(frozen=True)
class RetryPolicy:
    """Timing of deliveries (tests shrink it)."""

    base_seconds: float = 5.0
    max_delay_seconds: float = 3600.0
    give_up_after_seconds: float = 25 * 3600.0
    timeout_seconds: float = 10.0
    """One attempt's whole time budget: connect, send and read."""
    lease_seconds: float = 60.0
    """How long a loop holds a delivery it is attempting; longer than an attempt can take."""

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure: full jitter over the exponential step."""
        return random.uniform(0, min(self.max_delay_seconds, self.base_seconds * 2 ** min(attempts - 1, 30)))


@dataclass(frozen=True)
class Leased:
    """A delivery this loop holds, with what it needs to send it."""

    id: str
    token: int
    attempts: int
    event_id: str
    event_type: str
    event_created_at: float
    job_id: str | None
    endpoint_id: str
    url: str
    secret: str
    endpoint_status: str


class Deliverer:
    """Delivers due webhook deliveries of ``engine``'s database; :meth:`start` runs it in threads."""

    def __init__(self, engine: Engine, *, allow_private: bool = False, policy: RetryPolicy | None = None,
                 resolver: Resolver | None = None, transport: httpx.BaseTransport | None = None,
                 concurrency: int = 4, tick_seconds: float = 0.5, metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics
        """Where outcomes and database errors are counted (None: nowhere)."""
        self.allow_private = allow_private
        self.policy = policy or RetryPolicy()
        self.resolver = resolver
        self.transport = transport
        self.concurrency = concurrency
        self.tick_seconds = tick_seconds
        self._now = db_now(engine.dialect.name)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._slots = threading.Semaphore(concurrency)

    # -- one lease, one attempt -------------------------------------------

    def claim(self) -> Leased | None:
        """Lease the most overdue pending delivery, or None when none is due."""
        d = deliveries
        due = (d.c.status == "pending") & (d.c.next_attempt_at <= self._now) & or_(
            d.c.lease_expires_at.is_(None), d.c.lease_expires_at < self._now)
        next_id = select(d.c.id).where(due).order_by(d.c.next_attempt_at).limit(1)
        if self.engine.dialect.name == "postgresql":
            next_id = next_id.with_for_update(skip_locked=True)
        stmt = (update(d).where(d.c.id == next_id.scalar_subquery(), due)
                .values(lease_token=d.c.lease_token + 1, lease_expires_at=self._now + self.policy.lease_seconds)
                .returning(d.c.id, d.c.lease_token, d.c.attempts, d.c.event_id, d.c.endpoint_id))
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return None
            event = conn.execute(select(events).where(events.c.id == row.event_id)).mappings().one()
            endpoint = conn.execute(select(endpoints).where(endpoints.c.id == row.endpoint_id)).mappings().one()
        return Leased(row.id, row.lease_token, row.attempts, event["id"], event["type"], event["created_at"],
                      event["job_id"], endpoint["id"], endpoint["url"], endpoint["secret"], endpoint["status"])

    def attempt(self, leased: Leased) -> Attempt | None:
        """Send one leased delivery and record the outcome; the :class:`Attempt` (None: not sent,
        its endpoint is disabled)."""
        if leased.endpoint_status != "enabled":
            self._record(leased, {"status": "disabled", "next_attempt_at": None})
            return None
        body = payload(leased.event_id, leased.event_type, leased.event_created_at, leased.job_id)
        outcome = post_event(leased.url, leased.secret, leased.event_id, body,
                             timeout_seconds=self.policy.timeout_seconds, allow_private=self.allow_private,
                             resolver=self.resolver, transport=self.transport)
        attempts = leased.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_response_code": outcome.status_code,
                                  "last_error": outcome.error}
        if outcome.ok:
            values.update(status="delivered", delivered_at=self._now, next_attempt_at=None)
        elif outcome.status_code == 410:
            values.update(status="disabled", next_attempt_at=None)
        else:
            give_up = (self._now - deliveries.c.created_at) >= self.policy.give_up_after_seconds
            values.update(status=case((give_up, "failed"), else_="pending"),
                          next_attempt_at=case((give_up, None), else_=self._now + self.policy.delay(attempts)))
        if self._record(leased, values) == "disabled" and outcome.status_code == 410:
            self._disable_endpoint(leased.endpoint_id, "the endpoint answered 410 Gone")
        if not outcome.ok:
            log.info("webhook %s to %s failed (attempt %d): %s", leased.event_id, leased.endpoint_id, attempts,
                     outcome.error)
        return outcome

    def _record(self, leased: Leased, values: dict[str, Any]) -> str | None:
        """Write an attempt's outcome while the lease holds; the delivery's new status (None: not written)."""
        d = deliveries
        stmt = (update(d).where(d.c.id == leased.id, d.c.lease_token == leased.token, d.c.status == "pending")
                .values(**values, lease_expires_at=None, updated_at=self._now).returning(d.c.status))
        with self.engine.begin() as conn:
            status = conn.execute(stmt).scalar()
        if status is not None and self.metrics is not None:
            self.metrics.webhook_delivery(_OUTCOMES[status])
        return status

    def _disable_endpoint(self, endpoint_id: str, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(endpoints).where(endpoints.c.id == endpoint_id)
                         .values(status="disabled", disabled_reason=reason, updated_at=self._now))
            disable_pending(conn, endpoint_id)

    def deliver_due(self) -> int:
        """Attempt every delivery due now, one after another (tests); how many were attempted."""
        count = 0
        while (leased := self.claim()) is not None:
            self.attempt(leased)
            count += 1
        return count

    # -- the loop ---------------------------------------------------------

    def start(self) -> None:
        """Deliver in a daemon thread (up to ``concurrency`` attempts at once) until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=in_context(self._loop), name="happyhorse-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop leasing; wait for the attempts in flight (each ends within its time budget)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        failures = 0
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="happyhorse-webhook-send") as pool:
            while not self._stop.is_set():
                try:
                    busy = self._fill(pool)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    busy = False
                    self._count_database_error(exc)
                    if failures == 1:
                        log.warning("webhook delivery pass failed; trying again", exc_info=True)
                if not busy:
                    self._stop.wait(self.tick_seconds)

    def _fill(self, pool: ThreadPoolExecutor) -> bool:
        """Lease due deliveries while a sending slot is free; whether any was leased."""
        leased_any = False
        while not self._stop.is_set() and self._slots.acquire(timeout=self.tick_seconds):
            try:
                leased = self.claim()
            except Exception:
                self._slots.release()
                raise
            if leased is None:
                self._slots.release()
                return leased_any
            leased_any = True
            pool.submit(self._send, leased)
        return leased_any

    def _send(self, leased: Leased) -> None:
        try:
            self.attempt(leased)
        except Exception as exc:
            self._count_database_error(exc)
            log.warning("webhook delivery %s failed to record", leased.id, exc_info=True)
        finally:
            self._slots.release()

    def _count_database_error(self, exc: Exception) -> None:
        if self.metrics is not None:
            self.metrics.count_database_error("webhooks", exc)
