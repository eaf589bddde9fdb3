"""The ledger: an append-only list of signed amounts per account.

An account's balance is the sum of its entries, nothing else: there is no
balance column to drift. Kinds:

- ``grant``: credit added by an operator (positive);
- ``capture``: a job's hold, charged when the job completed (negative). At most
  one per hold: ``UNIQUE (hold_id, kind)`` backs up the conditional update in
  :func:`happyhorse.billing.holds.capture_hold`.

Database triggers (migration 0002) refuse ``UPDATE`` and ``DELETE`` on the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from happyhorse.billing.money import MICRO, from_micros, sum_micros, to_decimal
from happyhorse.db.clock import db_now
from happyhorse.db.schema import holds, ledger_entries
from happyhorse.ids import new_id

GRANT = "grant"
CAPTURE = "capture"


@dataclass(frozen=True, slots=True)
class Balances:
    """An account's money at one instant (one SQL statement, so one snapshot)."""

    balance: Decimal
    """Sum of the ledger entries."""
    held: Decimal
    """Sum of the pending holds (jobs queued or running)."""
    pending_holds: int

    @property
    def available(self) -> Decimal:
        """What new jobs may still reserve."""
        return self.balance - self.held


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One entry, with the balance right after it."""

    id: str
    created_at: float
    kind: str
    amount: Decimal
    balance_after: Decimal
    job_id: str | None
    memo: str | None


def insert_entry(
    conn: Connection,
    *,
    account_id: str,
    kind: str,
    amount: Decimal,
    hold_id: str | None = None,
    job_id: str | None = None,
    memo: str | None = None,
) -> str:
    """Append one entry inside the caller's transaction; returns its id."""
    entry_id = new_id("le")
    conn.execute(
        ledger_entries.insert().values(
            id=entry_id, account_id=account_id, kind=kind, amount=amount.quantize(MICRO), hold_id=hold_id,
            job_id=job_id, memo=memo, created_at=db_now(conn.dialect.name),
        )
    )
    return entry_id


def read_balances(conn: Connection, account_id: str) -> Balances:
    """Balance and pending holds in ONE statement.

    Two statements could straddle a capture committed in between (PostgreSQL,
    READ COMMITTED): the old balance with the new holds would overstate what is
    available. One statement reads one snapshot."""
    balance = (
        select(sum_micros(ledger_entries.c.amount)).where(ledger_entries.c.account_id == account_id).scalar_subquery()
    )
    pending = (holds.c.account_id == account_id) & (holds.c.state == "pending")
    held = select(sum_micros(holds.c.amount)).where(pending).scalar_subquery()
    n = select(func.count()).select_from(holds).where(pending).scalar_subquery()
    row = conn.execute(select(balance, held, n)).one()
    return Balances(balance=from_micros(row[0]), held=from_micros(row[1]), pending_holds=int(row[2]))


def grant_credits(engine: Engine, account_id: str, amount: Decimal, *, memo: str | None = None) -> Decimal:
    """Add ``amount`` (> 0) to the account; returns the new balance."""
    if amount <= 0:
        raise ValueError("a grant must be a positive amount")
    with engine.begin() as conn:
        insert_entry(conn, account_id=account_id, kind=GRANT, amount=amount, memo=memo)
        return read_balances(conn, account_id).balance


def ledger_lines(engine: Engine, account_id: str, *, limit: int | None = None) -> list[LedgerLine]:
    """The account's entries, newest first, each with the balance after it.

    The running balance needs every older entry, so all are read; ``limit``
    only trims what is returned."""
    columns = (ledger_entries.c.id, ledger_entries.c.created_at, ledger_entries.c.kind, ledger_entries.c.amount,
               ledger_entries.c.job_id, ledger_entries.c.memo)
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(
            select(*columns)
            .where(ledger_entries.c.account_id == account_id)
            # Ids are time-ordered ULIDs: a stable order even for equal timestamps.
            .order_by(ledger_entries.c.created_at, ledger_entries.c.id)
        ).all()
    lines: list[LedgerLine] = []
    running = Decimal(0).quantize(MICRO)
    for row in rows:
        amount = to_decimal(row.amount)
        running += amount
        lines.append(LedgerLine(row.id, row.created_at, row.kind, amount, running, row.job_id, row.memo))
    lines.reverse()
    return lines[:limit] if limit is not None else lines
