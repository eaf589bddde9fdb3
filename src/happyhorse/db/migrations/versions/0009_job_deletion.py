"""job deletion: ``jobs.deleted_at``, set by ``DELETE /v1/jobs/{id}``.

The row stays (its hold and ledger entries point at it); every read on behalf
of an account leaves deleted jobs out (see happyhorse.jobs.deletion).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Spelled out, not imported from ``schema.py`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("deleted_at", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("deleted_at")
