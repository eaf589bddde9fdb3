"""The tables, as SQLAlchemy Core metadata shared by SQLite and PostgreSQL.

Times are seconds since the epoch (``Float``) read from the *database* clock
(see :func:`happyhorse.db.clock.db_now`): leases are compared against the same
clock that wrote them, whatever the hosts' clocks say, and the type behaves the
same on both databases. The API formats them as ISO 8601. Money is
``NUMERIC(18, 6)``, read as ``Decimal`` (see :mod:`happyhorse.billing.money`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    # The visible start of the key (``hh_live_abcd``); the key itself is never stored.
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double, nullable=True),
    Column("revoked_at", Double, nullable=True),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("storage_key", String(300), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    # When the upload was stored or last named by a submit (or uploaded again): unused
    # uploads expire this long after it (Settings.upload_ttl_seconds, the storage sweep).
    Column("last_used_at", Double, nullable=True),
    Index("ix_uploads_last_used_at", "last_used_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("model", String(100), nullable=False),
    Column("engine", String(50), nullable=True),
    Column("status", String(20), nullable=False),
    # The validated request: mode, prompt, aspect_ratio, resolution, duration,
    # seed, watermark, width, height and the image references (``inputs``).
    Column("request", JSON, nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("progress", Integer, nullable=False, default=0),
    # Leasing: bumped on every claim; every worker write carries it (fencing).
    Column("lease_token", Integer, nullable=False, default=0),
    Column("attempt", Integer, nullable=False, default=0),
    Column("worker_id", String(100), nullable=True),
    Column("lease_expires_at", Double, nullable=True),
    Column("heartbeat_at", Double, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double, nullable=True),
    Column("completed_at", Double, nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    # Set on completion: seed used, output metadata (see ``outputs``).
    Column("result", JSON, nullable=True),
    # Set by DELETE /v1/jobs/{id} (migration 0009): the row stays for the ledger, the API no longer shows it.
    Column("deleted_at", Double, nullable=True),
    Index("ix_jobs_status_priority_created", "status", "priority", "created_at"),
    Index("ix_jobs_account_id_id", "account_id", "id"),
    Index("ix_jobs_completed_at", "completed_at"),  # the orphan sweep walks ended jobs by it
    # Fair claims (migration 0005, see happyhorse.jobs.fairness): the accounts with queued
    # jobs and each one's next job; and when each account was last served.
    Index("ix_jobs_status_account_priority_created", "status", "account_id", "priority", "created_at", "id"),
    Index("ix_jobs_account_id_started_at", "account_id", "started_at"),
)

outputs = Table(
    "outputs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("job_id", String(40), ForeignKey("jobs.id"), nullable=False),
    Column("kind", String(20), nullable=False),  # "video" | "poster"
    Column("storage_key", String(300), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("fps", Integer, nullable=True),
    Column("duration", Double, nullable=True),
    Column("has_audio", Boolean, nullable=True),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("job_id", "kind", name="uq_outputs_job_id_kind"),
)


# -- billing (migration 0002): amounts are NUMERIC(18, 6) Decimals ------------

holds = Table(
    "holds",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    # One hold per job: taken at submit, in the job's transaction.
    Column("job_id", String(40), ForeignKey("jobs.id"), nullable=False, unique=True),
    Column("state", String(20), nullable=False),  # "pending" | "captured" | "released"
    Column("amount", Numeric(18, 6), nullable=False),
    Column("unit_price", Numeric(18, 6), nullable=False),
    Column("billed_seconds", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("settled_at", Double, nullable=True),
    Index("ix_holds_account_id_state", "account_id", "state"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(20), nullable=False),  # "grant" (+) | "capture" (-)
    # Signed: the balance is the sum of an account's entries.
    Column("amount", Numeric(18, 6), nullable=False),
    Column("hold_id", String(40), ForeignKey("holds.id"), nullable=True),
    Column("job_id", String(40), ForeignKey("jobs.id"), nullable=True),
    Column("memo", String(500), nullable=True),
    Column("created_at", Double, nullable=False),
    # A hold is captured at most once, whatever the code above the database does.
    UniqueConstraint("hold_id", "kind", name="uq_ledger_entries_hold_id_kind"),
    Index("ix_ledger_entries_account_id_created_at", "account_id", "created_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    # SHA-256 of the request (canonical body + image part digests).
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(20), nullable=False),  # "in_flight" | "done"
    # Which request holds the key while in flight (a random token).
    Column("claim", String(40), nullable=False),
    Column("job_id", String(40), ForeignKey("jobs.id"), nullable=True),
    Column("created_at", Double, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)


# -- web accounts (migration 0003): people who sign in to the dashboard -------

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    # A user belongs to one account; the account owns keys, jobs and credit.
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    # Stored lower-cased, so sign-in is case-insensitive.
    Column("email", String(320), nullable=False, unique=True),
    # argon2id, in the PHC string format ("$argon2id$v=19$m=...").
    Column("password_hash", String(255), nullable=False),
    Column("is_operator", Boolean, nullable=False, default=False),
    Column("created_at", Double, nullable=False),
    Column("last_sign_in_at", Double, nullable=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # SHA-256 of the cookie's random token: a stolen database holds no usable session.
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False, index=True),
    # The API key the session's browser calls /v1 with; derived from the token,
    # never sent to the browser (see happyhorse.web.sessions).
    Column("api_key_id", String(40), ForeignKey("api_keys.id"), nullable=False, unique=True),
    # The synchronizer token the dashboard sends back in X-CSRF-Token and in forms.
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("ended_at", Double, nullable=True),
)


# -- the worker registry (migration 0007): which engines, serving which modes, are running --------

workers = Table(
    "workers",
    metadata,
    # The worker's own id (``host:pid:xxxx``), as it writes on the jobs it claims.
    Column("id", String(300), primary_key=True),
    Column("engine", String(64), nullable=False),
    # The modes its engine serves (a list, in the rules' order): it claims no other.
    Column("modes", JSON, nullable=False),
    Column("started_at", Double, nullable=False),
    # Refreshed by the worker's housekeeping thread; a worker not seen for
    # ``worker_seen_seconds`` no longer counts (it crashed, or its host is gone).
    Column("last_seen_at", Double, nullable=False),
    Index("ix_workers_last_seen_at", "last_seen_at"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=True),
    Column("url", Text, nullable=False),
    # The event types it receives (``video.completed``...), a list.
    Column("event_types", JSON, nullable=False),
    # ``whsec_<base64 key>`` (Standard Webhooks); shown once, on create and on rotate.
    Column("secret", String(100), nullable=False),
    # ``enabled`` or ``disabled`` (by its owner, or by the deliverer on a 410: ``disabled_reason``).
    Column("status", String(16), nullable=False),
    Column("disabled_reason", String(200), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    # ``evt_...``: the payload's id and the ``webhook-id`` header, the same on every retry.
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("type", String(40), nullable=False),
    # The job it is about (``data.id``); no foreign key: a deleted job keeps its events.
    Column("job_id", String(40), nullable=True),
    Column("created_at", Double, nullable=False),
    # One ending per job: a second ending of the same kind could only be a bug, and fails loudly.
    UniqueConstraint("job_id", "type", name="uq_webhook_events_job_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("event_id", String(40), ForeignKey("webhook_events.id"), nullable=False),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    # ``pending`` (to deliver at ``next_attempt_at``), ``delivered``, ``failed`` (retries spent) or
    # ``disabled`` (its endpoint was disabled before it got through).
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_response_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", Double, nullable=True),
    # The deliverer's lease, like a job's: ``lease_token`` fences every write after an attempt.
    Column("lease_token", Integer, nullable=False),
    Column("lease_expires_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("delivered_at", Double, nullable=True),
    UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_id"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "created_at"),
)

# Limits shared by every API process of a deployment (api/shared_limits.py; PostgreSQL only).
rate_buckets = Table(
    "rate_buckets",
    metadata,
    # The SHA-256 (hex) of the API key: the bucket's name, as in the in-process limiter.
    Column("key_hash", String(64), primary_key=True),
    # Tokens left at ``updated_at`` (database clock); refilled by the rate since then, up to the burst.
    Column("tokens", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index("ix_rate_buckets_updated_at", "updated_at"),
)

stream_slots = Table(
    "stream_slots",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("account_id", String(40), nullable=False),
    # Renewed by the API process holding the stream; a slot of a crashed process lapses at this time.
    Column("expires_at", Double, nullable=False),
    Index("ix_stream_slots_key_hash", "key_hash"),
    Index("ix_stream_slots_account_id", "account_id"),
)
