"""``Idempotency-Key`` on submit: a retried request gets the first job, never a second one.

A key is claimed in a short transaction of its own *before* the request's
images are checked and stored, so that a second request with the same key
can see that the first is still being processed (409, the SDK retries). The
claim is completed in the job's own transaction (:func:`complete_claim`), so
a key is ``done`` exactly when its job exists; a request that fails gives its
claim back (:func:`abandon_claim`) and the key may be used again.

Per (account, key) the row holds a fingerprint of the request (SHA-256 of the
canonical body and of each image part) and, once done, the job id:

- same key, same fingerprint, done      → the first job (replayed);
- same key, other fingerprint           → 422 ``idempotency_key_reused``;
- same key, same fingerprint, in flight → 409 ``idempotency_key_in_flight``.

Keys are kept at least :data:`RETENTION_SECONDS` (24 h); older rows are
purged now and then by whoever claims a key. An in-flight claim older than
:data:`IN_FLIGHT_TIMEOUT_SECONDS` belonged to a process that died: the next
request with that key takes it over, and the dead claim can no longer finish.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from happyhorse.db.clock import read_db_now
from happyhorse.db.schema import idempotency_keys
from happyhorse.errors import Conflict, IdempotencyMismatch, InvalidRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RETENTION_SECONDS = 24 * 3600.0
IN_FLIGHT_TIMEOUT_SECONDS = 120.0
PURGE_EVERY_SECONDS = 60.0

IN_FLIGHT, DONE = "in_flight", "done"


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """The outcome of :func:`claim_key`: either ours to complete, or the job of an earlier request."""

    account_id: str
    key: str
    token: str
    """Identifies this claim; only its holder can complete or abandon it."""
    replay_job_id: str | None = None
    """Set when the key already made a job with the same request: answer with that job."""


def checked_idempotency_key(header_value: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value, or None when absent; 400 if empty, too long or not printable ASCII."""
    if header_value is None:
        return None
    if not header_value or len(header_value) > MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in header_value):
        raise InvalidRequest(
            "invalid_idempotency_key",
            f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, such as a UUID",
            HEADER,
        )
    return header_value


def request_fingerprint(fields: dict[str, Any], parts: Sequence[bytes] = ()) -> str:
    """SHA-256 of the request: its fields as canonical JSON and the digest of each image part, in order."""
    canonical = json.dumps(
        {"fields": fields, "parts": [hashlib.sha256(p).hexdigest() for p in parts]},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(engine: Engine, account_id: str, key: str, fingerprint: str) -> KeyClaim:
    """Claim ``key`` for this request, or learn that it already made a job (``replay_job_id``).

    Raises :class:`IdempotencyMismatch` (422) for another request's key and
    :class:`Conflict` (409, ``idempotency_key_in_flight``) while the first
    request is still being processed."""
    token = secrets.token_hex(12)
    with engine.begin() as conn:
        now = read_db_now(conn)
        _purge_if_due(conn, now)
        values = {"account_id": account_id, "key": key, "fingerprint": fingerprint, "state": IN_FLIGHT,
                  "claim": token, "job_id": None, "created_at": now}
        # RETURNING, not rowcount: psycopg reports -1 for an insert that did nothing.
        if conn.execute(_insert_if_absent(conn, values).returning(idempotency_keys.c.claim)).first() is not None:
            return KeyClaim(account_id, key, token)
        row = conn.execute(
            select(idempotency_keys).where(idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key)
        ).one()
        expired = row.created_at < now - RETENTION_SECONDS
        if not expired and row.fingerprint != fingerprint:
            raise IdempotencyMismatch(
                "idempotency_key_reused",
                f"this {HEADER} was used with a different request in the last 24 hours; "
                f"use a new key for a new request",
                HEADER,
            )
        if not expired and row.state == DONE:
            return KeyClaim(account_id, key, token, replay_job_id=row.job_id)
        if expired or row.created_at < now - IN_FLIGHT_TIMEOUT_SECONDS:
            # Compare-and-set on the old claim: of two requests taking over, one wins.
            taken = conn.execute(
                update(idempotency_keys)
                .where(_this_key(account_id, key), idempotency_keys.c.claim == row.claim)
                .values(fingerprint=fingerprint, state=IN_FLIGHT, claim=token, job_id=None, created_at=now)
            ).rowcount
            if taken:
                return KeyClaim(account_id, key, token)
    raise in_flight()


def complete_claim(conn: Connection, claim: KeyClaim, job_id: str) -> None:
    """Record the job inside the job's own transaction; 409 (rolling it back) if the claim was taken over."""
    done = conn.execute(
        update(idempotency_keys)
        .where(_this_key(claim.account_id, claim.key), idempotency_keys.c.claim == claim.token,
               idempotency_keys.c.state == IN_FLIGHT)
        .values(state=DONE, job_id=job_id)
    ).rowcount
    if not done:
        raise in_flight()


def abandon_claim(engine: Engine, claim: KeyClaim) -> None:
    """Forget an unfinished claim (the request failed), so the key can be used again."""
    with engine.begin() as conn:
        conn.execute(
            delete(idempotency_keys).where(
                _this_key(claim.account_id, claim.key), idempotency_keys.c.claim == claim.token,
                idempotency_keys.c.state == IN_FLIGHT,
            )
        )


ABANDON_RETRY_SECONDS = 1.0


def abandon_claim_later(engine: Engine, claim: KeyClaim, *, within: float = IN_FLIGHT_TIMEOUT_SECONDS) -> None:
    """Keep trying :func:`abandon_claim` in the background (the database is away right now).

    Without it the key would stay in flight until :data:`IN_FLIGHT_TIMEOUT_SECONDS`, and the
    client's retries with that key would get 409s for minutes after the database came back.
    Safe whenever it lands: it deletes only this claim's row, and only while still in flight.
    One thread per process retries every pending claim, however many failed during an outage."""
    _late_abandons.add(engine, claim, time.monotonic() + within)


class _LateAbandons:
    """Claims waiting for the database to come back, retried every :data:`ABANDON_RETRY_SECONDS`
    by one daemon thread that runs only while some are pending."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Engine, KeyClaim, float]] = []
        self._thread: threading.Thread | None = None

    def add(self, engine: Engine, claim: KeyClaim, deadline: float) -> None:
        with self._lock:
            self._pending.append((engine, claim, deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="idempotency-abandon", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(ABANDON_RETRY_SECONDS)
            with self._lock:
                due, self._pending = self._pending, []
            left = []
            for engine, claim, deadline in due:
                if time.monotonic() >= deadline:
                    continue  # the in-flight timeout frees it now
                try:
                    abandon_claim(engine, claim)
                except Exception:  # still away
                    left.append((engine, claim, deadline))
            with self._lock:
                self._pending = left + self._pending
                if not self._pending:
                    self._thread = None
                    return

    def threads(self) -> int:
        """How many retry threads run now (0 or 1): for tests."""
        with self._lock:
            return 0 if self._thread is None else 1


_late_abandons = _LateAbandons()


def in_flight() -> Conflict:
    return Conflict(
        "idempotency_key_in_flight",
        f"a request with this {HEADER} is still being processed; retry in a moment to get its job",
        HEADER,
    )


def _this_key(account_id: str, key: str):  # type: ignore[no-untyped-def]
    return (idempotency_keys.c.account_id == account_id) & (idempotency_keys.c.key == key)


def _insert_if_absent(conn: Connection, values: dict[str, Any]):  # type: ignore[no-untyped-def]
    # ON CONFLICT DO NOTHING: a concurrent claim of the same key is not an error.
    # On PostgreSQL it waits for an uncommitted claim of the same key, then does nothing.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(idempotency_keys).values(**values).on_conflict_do_nothing(
        index_elements=["account_id", "key"]
    )


_purge_lock = threading.Lock()
_next_purge = 0.0


def _purge_if_due(conn: Connection, now: float) -> None:
    """Delete keys past retention, at most once a minute per process (keys live ≥ 24 h, not exactly 24 h)."""
    global _next_purge
    with _purge_lock:
        if time.monotonic() < _next_purge:
            return
        _next_purge = time.monotonic() + PURGE_EVERY_SECONDS
    conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < now - RETENTION_SECONDS))
