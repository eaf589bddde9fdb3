"""Indexes for fair claims across accounts (see happyhorse.jobs.fairness).

``ix_jobs_status_account_priority_created`` lists the accounts with queued jobs
(one seek each) and finds each one's next job; ``ix_jobs_account_id_started_at``
finds when an account was last served.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_jobs_status_account_priority_created", "jobs", ["status", "account_id", "priority", "created_at", "id"]
    )
    op.create_index("ix_jobs_account_id_started_at", "jobs", ["account_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_account_id_started_at", table_name="jobs")
    op.drop_index("ix_jobs_status_account_priority_created", table_name="jobs")
