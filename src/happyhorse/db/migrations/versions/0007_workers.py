"""workers: the registry of running workers, their engine and the modes it serves.

Each worker upserts its row at start and on a heartbeat, and deletes it on a
clean stop; ``GET /v1/models`` and submit read the recently seen ones
(see happyhorse.jobs.registry).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Spelled out, not imported from ``schema.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(300), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("modes", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("last_seen_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
    )
    op.create_index("ix_workers_last_seen_at", "workers", ["last_seen_at"])


def downgrade() -> None:
    op.drop_table("workers")
