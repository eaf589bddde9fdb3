"""Accounts: who owns jobs, uploads, keys and credits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts
from happyhorse.errors import Conflict, NotFound
from happyhorse.ids import new_id


@dataclass(frozen=True)
class Account:
    id: str
    name: str



def create_account(engine: Engine, name: str) -> Account:
    """Create an account; raises :class:`Conflict` if the name is taken."""
    with engine.begin() as conn:
        if conn.execute(select(accounts.c.id).where(accounts.c.name == name)).first():
            raise Conflict("account_exists", f"an account named {name!r} already exists", "name")
        account_id = new_id("acct")
        conn.execute(accounts.insert().values(id=account_id, name=name, created_at=db_now(conn.dialect.name)))
    return Account(account_id, name)


def get_account_by_name(engine: Engine, name: str) -> Account:
    with engine.connect().execution_options(readonly=True) as conn:
        row = conn.execute(select(accounts.c.id, accounts.c.name).where(accounts.c.name == name)).first()
    if row is None:
        raise NotFound("account_not_found", f"no account named {name!r}; create it with `happyhorse accounts create`", "account")
    return Account(row.id, row.name)
