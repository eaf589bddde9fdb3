"""``Idempotency-Key`` when the database goes away between the key's claim and the job's
transaction (a PostgreSQL restart under load, tests/chaos/test_pg_restart.py).

The failed submit cannot give its claim back while the database is away; it
keeps trying in the background, so the client's retry with the same key is
accepted once the database is back, instead of answering 409 "in flight" until
the in-flight timeout (minutes).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import happyhorse.submit.service as submission
from happyhorse.db.schema import idempotency_keys, jobs
from happyhorse.errors import Conflict
from happyhorse.runtime import Runtime

from .conftest import NewAccount, count_rows, submit_job


def _database_gone(*args: object, **kwargs: object) -> None:
    raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))


def test_a_key_whose_submit_failed_with_the_database_away_is_freed_once_it_is_back(
    runtime: Runtime, new_account: NewAccount, monkeypatch
) -> None:
    account = new_account("outage", "5")
    # The claim commits; then the job's transaction and the claim's release both fail.
    monkeypatch.setattr(submission, "submit_generation", _database_gone)
    monkeypatch.setattr(submission, "abandon_claim", _database_gone)
    with pytest.raises(OperationalError):
        submit_job(runtime, account, key="k-outage")
    monkeypatch.undo()  # the database is back

    deadline = time.monotonic() + 10
    while True:
        try:
            accepted = submit_job(runtime, account, key="k-outage")
            break
        except Conflict as exc:  # 409 in flight: the claim is not released yet
            assert exc.code == "idempotency_key_in_flight"
            assert time.monotonic() < deadline, "the failed submit's key stayed in flight"
            time.sleep(0.1)
    assert not accepted.replayed
    assert submit_job(runtime, account, key="k-outage").job.id == accepted.job.id
    assert count_rows(runtime, jobs, account_id=account) == 1
    with runtime.db.connect() as conn:
        assert conn.execute(select(idempotency_keys.c.state)).scalars().all() == ["done"]


def test_many_failed_releases_share_one_retry_thread(runtime: Runtime, new_account: NewAccount, monkeypatch) -> None:
    from happyhorse.submit import idempotency

    account = new_account("outage-many", "50")
    monkeypatch.setattr(submission, "submit_generation", _database_gone)
    monkeypatch.setattr(submission, "abandon_claim", _database_gone)
    monkeypatch.setattr(idempotency, "abandon_claim", _database_gone)  # the retries fail too, for now
    for n in range(30):
        with pytest.raises(OperationalError):
            submit_job(runtime, account, key=f"k-{n}")
    assert idempotency._late_abandons.threads() == 1
    monkeypatch.undo()  # the database is back: every claim is given back, and the thread ends
    deadline = time.monotonic() + 10
    while idempotency._late_abandons.threads():
        assert time.monotonic() < deadline, "the retry thread did not finish"
        time.sleep(0.05)
    with runtime.db.connect() as conn:
        assert conn.execute(select(idempotency_keys.c.key)).scalars().all() == []
