"""The tables, as SQLAlchemy Core metadata shared by SQLite and PostgreSQL.

Times are seconds since the epoch (``Float``) read from the *database* clock
(see :func:`happyhorse.db.clock.db_now`): leases are compared against the same
clock that wrote them, whatever the hosts' clocks say, and the type behaves the
same on both databases. The API formats them as ISO 8601.
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
    Index("ix_jobs_status_priority_created", "status", "priority", "created_at"),
    Index("ix_jobs_account_id_id", "account_id", "id"),
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
