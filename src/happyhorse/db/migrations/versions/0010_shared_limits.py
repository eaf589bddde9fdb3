"""limits shared by the API processes of a deployment: ``rate_buckets`` (the per-key rate limit's
token buckets) and ``stream_slots`` (the open event streams per key and account).

Used on PostgreSQL (see happyhorse.api.shared_limits); SQLite deployments keep the in-process limits.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Spelled out, not imported from ``schema.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name="pk_rate_buckets"),
    )
    op.create_index("ix_rate_buckets_updated_at", "rate_buckets", ["updated_at"])
    op.create_table(
        "stream_slots",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stream_slots"),
    )
    op.create_index("ix_stream_slots_key_hash", "stream_slots", ["key_hash"])
    op.create_index("ix_stream_slots_account_id", "stream_slots", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_stream_slots_account_id", "stream_slots")
    op.drop_index("ix_stream_slots_key_hash", "stream_slots")
    op.drop_table("stream_slots")
    op.drop_index("ix_rate_buckets_updated_at", "rate_buckets")
    op.drop_table("rate_buckets")
