"""Fixtures for the billing tests: a runtime on SQLite and PostgreSQL, funded accounts, submits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits
from happyhorse.db.schema import holds, jobs, ledger_entries
from happyhorse.submit.request import parse_generation_request
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.submit.service import Submitted, submit_idempotent


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A migrated database (SQLite or PostgreSQL) with local storage; no worker."""
    runtime = Runtime.open(Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret="s"))
    yield runtime
    runtime.close()


NewAccount = Callable[..., str]


@pytest.fixture
def new_account(runtime: Runtime) -> NewAccount:
    """``new_account(name, credits="0") -> account_id``."""

    def _new(name: str, credits: str = "0") -> str:
        account_id = create_account(runtime.db, name).id
        if Decimal(credits) > 0:
            grant_credits(runtime.db, account_id, Decimal(credits), memo="test funds")
        return account_id

    return _new


Submit = Callable[..., Submitted]


def submit_job(
    runtime: Runtime, account_id: str, *, duration: int = 5, resolution: str = "720p", prompt: str = "a horse",
    key: str | None = None, **fields: Any,
) -> Submitted:
    """Submit as the API does (JSON fields, optional Idempotency-Key), without HTTP."""
    body = {"prompt": prompt, "duration": duration, "resolution": resolution, "seed": 1, **fields}
    return submit_idempotent(runtime, account_id, parse_generation_request(body), [], key=key, fields=body)


def count_rows(runtime: Runtime, table, **where: object) -> int:  # type: ignore[no-untyped-def]
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with runtime.db.connect() as conn:
        return int(conn.execute(query).scalar_one())


__all__ = ["count_rows", "holds", "jobs", "ledger_entries", "submit_job"]
