"""An account's money as ``GET /v1/account`` shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Engine

from happyhorse.billing.ledger import CAPTURE, Balances, read_balances
from happyhorse.billing.money import format_usd, from_micros, sum_micros
from happyhorse.db.clock import read_db_now
from happyhorse.db.schema import ledger_entries
from happyhorse.rules import RULES


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account_id: str
    name: str
    balances: Balances
    spent_this_month: Decimal
    month: str
    """The calendar month (UTC) ``spent_this_month`` covers, e.g. ``2026-11``."""

    def to_dict(self) -> dict[str, object]:
        """The wire object of ``GET /v1/account``."""
        return {
            "object": "account",
            "account_id": self.account_id,
            "name": self.name,
            "currency": RULES.currency,
            "balance_usd": format_usd(self.balances.balance),
            "held_usd": format_usd(self.balances.held),
            "available_usd": format_usd(self.balances.available),
            "pending_holds": self.balances.pending_holds,
            "spent_this_month_usd": format_usd(self.spent_this_month),
            "month": self.month,
        }


def month_start(epoch: float) -> tuple[float, str]:
    """The first instant (epoch seconds) of ``epoch``'s calendar month in UTC, and its ``YYYY-MM``."""
    now = dt.datetime.fromtimestamp(epoch, dt.UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), start.strftime("%Y-%m")


def account_summary(engine: Engine, account_id: str, name: str) -> AccountSummary:
    """Balance, holds, available credit and this month's captures, from one read transaction."""
    with engine.connect().execution_options(readonly=True) as conn:
        since, month = month_start(read_db_now(conn))
        spent = conn.execute(
            select(sum_micros(ledger_entries.c.amount)).where(
                ledger_entries.c.account_id == account_id,
                ledger_entries.c.kind == CAPTURE,
                ledger_entries.c.created_at >= since,
            )
        ).scalar_one()
        balances = read_balances(conn, account_id)
    return AccountSummary(account_id, name, balances, -from_micros(spent), month)
