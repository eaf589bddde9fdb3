"""Reads and writes behind the dashboard API, each scoped to one account (or the operator's view)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from happyhorse.api.presenters import iso_time
from happyhorse.billing.ledger import grant_credits, ledger_lines, read_balances
from happyhorse.billing.money import format_usd
from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts, api_keys, users, web_sessions
from happyhorse.errors import NotFound
from happyhorse.ids import is_id


def _key_object(row) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": row.id, "object": "api_key", "prefix": row.prefix, "name": row.name,
        "created_at": iso_time(row.created_at), "last_used_at": iso_time(row.last_used_at),
        "revoked_at": iso_time(row.revoked_at), "active": row.revoked_at is None,
    }


def _account_key_rows(account_id: str):  # type: ignore[no-untyped-def]
    # A session's own key is the browser's, not the account's: not listed, not revocable here.
    session_keys = select(web_sessions.c.api_key_id)
    return select(api_keys).where(api_keys.c.account_id == account_id, api_keys.c.id.not_in(session_keys))


def account_keys(engine: Engine, account_id: str) -> list[dict]:
    """The account's API keys, newest first (prefix only, never the key)."""
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(_account_key_rows(account_id).order_by(api_keys.c.id.desc())).all()
    return [_key_object(row) for row in rows]


def revoke_account_key(engine: Engine, account_id: str, key_id: str) -> dict:
    """Revoke one of the account's keys (idempotent); 404 for any other key."""
    if not is_id(key_id, "key"):
        raise NotFound("key_not_found", f"no API key {key_id!r} in this account", "key_id")
    with engine.begin() as conn:
        row = conn.execute(_account_key_rows(account_id).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFound("key_not_found", f"no API key {key_id} in this account", "key_id")
        if row.revoked_at is None:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=db_now(conn.dialect.name)))
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return _key_object(row)


def ledger(engine: Engine, account_id: str, limit: int) -> list[dict]:
    return [
        {"id": line.id, "created_at": iso_time(line.created_at), "kind": line.kind,
         "amount_usd": format_usd(line.amount), "balance_after_usd": format_usd(line.balance_after),
         "job_id": line.job_id, "memo": line.memo}
        for line in ledger_lines(engine, account_id, limit=limit)
    ]


def all_accounts(engine: Engine) -> list[dict]:
    """Every account with its money and its users' emails (operator view)."""
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(select(accounts).order_by(accounts.c.id)).all()
        emails: dict[str, list[str]] = {}
        for user in conn.execute(select(users.c.account_id, users.c.email).order_by(users.c.email)):
            emails.setdefault(user.account_id, []).append(user.email)
        result = []
        for row in rows:
            money = read_balances(conn, row.id)
            result.append({
                "id": row.id, "name": row.name, "created_at": iso_time(row.created_at),
                "users": emails.get(row.id, []), "balance_usd": format_usd(money.balance),
                "held_usd": format_usd(money.held), "available_usd": format_usd(money.available),
            })
    return result


def grant(engine: Engine, account_id: str, amount: Decimal, memo: str) -> dict:
    if not is_id(account_id, "acct"):
        raise NotFound("account_not_found", f"no account {account_id!r}", "account_id")
    with engine.connect().execution_options(readonly=True) as conn:
        row = conn.execute(select(accounts.c.name).where(accounts.c.id == account_id)).first()
    if row is None:
        raise NotFound("account_not_found", f"no account {account_id}", "account_id")
    balance = grant_credits(engine, account_id, amount, memo=memo)
    return {"account_id": account_id, "name": row.name, "granted_usd": format_usd(amount),
            "balance_usd": format_usd(balance)}
