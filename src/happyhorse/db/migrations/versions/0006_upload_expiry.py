"""uploads.last_used_at: unused uploads expire (the storage sweep), indexed for its scan.

Existing uploads count as last used when they were stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("last_used_at", sa.Double(), nullable=True))
    op.execute("UPDATE uploads SET last_used_at = created_at")
    op.create_index("ix_uploads_last_used_at", "uploads", ["last_used_at"])


def downgrade() -> None:
    op.drop_index("ix_uploads_last_used_at", table_name="uploads")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("last_used_at")
