"""Billing: holds, the append-only ledger and idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01

Spelled out, not imported from ``schema.py`` (see 0001). Amounts are
``NUMERIC(18, 6)`` on both databases. Triggers refuse ``UPDATE`` and
``DELETE`` on ``ledger_entries``: the ledger is append-only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money(name: str) -> sa.Column:
    return sa.Column(name, sa.Numeric(18, 6), nullable=False)


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        _money("amount"),
        _money("unit_price"),
        sa.Column("billed_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("settled_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_holds_account_id_accounts"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_holds_job_id_jobs"),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
        sa.UniqueConstraint("job_id", name="uq_holds_job_id"),
    )
    op.create_index("ix_holds_account_id_state", "holds", ["account_id", "state"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        _money("amount"),
        sa.Column("hold_id", sa.String(40), nullable=True),
        sa.Column("job_id", sa.String(40), nullable=True),
        sa.Column("memo", sa.String(500), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_ledger_entries_account_id_accounts"),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name="fk_ledger_entries_hold_id_holds"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_ledger_entries_job_id_jobs"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.UniqueConstraint("hold_id", "kind", name="uq_ledger_entries_hold_id_kind"),
    )
    op.create_index("ix_ledger_entries_account_id_created_at", "ledger_entries", ["account_id", "created_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("claim", sa.String(40), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_idempotency_keys_account_id_accounts"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_idempotency_keys_job_id_jobs"),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    _append_only_ledger()


def _append_only_ledger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION happyhorse_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'ledger_entries is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
            "FOR EACH ROW EXECUTE FUNCTION happyhorse_ledger_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER ledger_entries_no_{event.lower()} BEFORE {event} ON ledger_entries "
            "BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries")
        op.execute("DROP FUNCTION IF EXISTS happyhorse_ledger_append_only()")
    op.drop_table("idempotency_keys")
    op.drop_table("ledger_entries")
    op.drop_table("holds")
