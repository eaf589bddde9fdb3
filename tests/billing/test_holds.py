"""Holds on SQLite and PostgreSQL: taken with the job, 402 when short, settled exactly once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DatabaseError, IntegrityError

from happyhorse.billing import holds as billing
from happyhorse.billing.ledger import ledger_lines, read_balances
from happyhorse.db.schema import holds, jobs, ledger_entries
from happyhorse.errors import InsufficientCredits
from happyhorse.jobs.status import Status
from happyhorse.runtime import Runtime

from .conftest import NewAccount, count_rows, submit_job


def balances(runtime: Runtime, account_id: str):  # type: ignore[no-untyped-def]
    with runtime.db.connect() as conn:
        return read_balances(conn, account_id)


def hold_of(runtime: Runtime, job_id: str):  # type: ignore[no-untyped-def]
    with runtime.db.connect() as conn:
        return conn.execute(select(holds).where(holds.c.job_id == job_id)).one()


def test_submit_holds_duration_times_price(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("buyer", "10")
    job = submit_job(runtime, account, duration=5, resolution="720p").job
    hold = hold_of(runtime, job.id)
    assert (hold.state, hold.amount, hold.unit_price, hold.billed_seconds) == (
        "pending", Decimal("0.70"), Decimal("0.14"), 5)
    big = submit_job(runtime, account, duration=15, resolution="1080p").job
    assert hold_of(runtime, big.id).amount == Decimal("2.70")
    money = balances(runtime, account)
    assert (money.balance, money.held, money.available, money.pending_holds) == (
        Decimal("10"), Decimal("3.40"), Decimal("6.60"), 2)


def test_the_exact_price_is_enough_and_a_cent_less_is_a_402(runtime: Runtime, new_account: NewAccount) -> None:
    exact = new_account("exact", "0.70")
    submit_job(runtime, exact, duration=5)
    assert balances(runtime, exact).available == 0
    with pytest.raises(InsufficientCredits) as caught:
        submit_job(runtime, exact, duration=3)
    error = caught.value
    assert (error.status, error.code, error.param) == (402, "insufficient_credits", None)
    assert "$0.42" in error.message and "available balance is $0.00" in error.message
    assert "$0.70 held" in error.message

    short = new_account("short", "0.69")
    with pytest.raises(InsufficientCredits, match=r"costs \$0\.70 .* available balance is \$0\.69"):
        submit_job(runtime, short, duration=5)
    assert count_rows(runtime, jobs, account_id=short) == 0  # the job went with the refused hold
    assert count_rows(runtime, holds, account_id=short) == 0


def test_capture_once_and_a_stale_worker_charges_nothing(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("fenced", "1")
    job_id = submit_job(runtime, account, duration=5).job.id
    queue = runtime.queue
    first = queue.claim_next("w1")
    assert first is not None and first.id == job_id
    # The first worker stalls past its lease; the reaper requeues the job, the hold stays pending.
    with runtime.db.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(lease_expires_at=0.0))
    assert queue.reap_expired().requeued == [job_id]
    assert hold_of(runtime, job_id).state == "pending"
    second = queue.claim_next("w2")
    assert second is not None and second.id == job_id

    assert not queue.complete(first, result={}, outputs=[])
    assert hold_of(runtime, job_id).state == "pending"
    assert queue.complete(second, result={}, outputs=[])
    assert not queue.complete(second, result={}, outputs=[])
    with runtime.db.begin() as conn:
        assert not billing.capture_hold(conn, job_id)  # even called directly, a second capture does nothing
        assert not billing.release_hold(conn, job_id)
    assert hold_of(runtime, job_id).state == "captured"
    assert balances(runtime, account).balance == Decimal("0.30")
    assert [(line.kind, line.amount) for line in ledger_lines(runtime.db, account)] == [
        ("capture", Decimal("-0.70")), ("grant", Decimal("1"))]


@pytest.mark.parametrize("ending", ["fail", "cancel_queued", "cancel_running", "poison", "shutdown_cancelled"])
def test_release_gives_the_hold_back(runtime: Runtime, new_account: NewAccount, ending: str) -> None:
    account = new_account("released", "1")
    job_id = submit_job(runtime, account, duration=5).job.id
    queue = runtime.queue
    if ending == "cancel_queued":
        assert queue.request_cancel(account, job_id).status is Status.CANCELLED
    else:
        lease = queue.claim_next("w", lease_seconds=30)
        assert lease is not None
        if ending == "fail":
            assert queue.fail(lease, code="x", message="x")
        elif ending == "cancel_running":
            queue.request_cancel(account, job_id)
            assert hold_of(runtime, job_id).state == "pending"  # still running until the worker stops
            assert queue.acknowledge_cancel(lease)
        elif ending == "shutdown_cancelled":
            queue.request_cancel(account, job_id)
            assert queue.release(lease)
        else:  # three lost leases: a poison job, failed by the reaper
            for attempt in range(3):
                with runtime.db.begin() as conn:
                    conn.execute(update(jobs).where(jobs.c.id == job_id).values(lease_expires_at=0.0))
                reaped = queue.reap_expired(max_attempts=3)
                if attempt < 2:
                    assert hold_of(runtime, job_id).state == "pending"
                    assert queue.claim_next("w") is not None
            assert reaped.failed == [job_id]
    assert hold_of(runtime, job_id).state == "released"
    money = balances(runtime, account)
    assert (money.balance, money.held, money.available) == (Decimal("1"), Decimal("0"), Decimal("1"))
    assert count_rows(runtime, ledger_entries, kind="capture") == 0


def test_a_requeued_job_keeps_its_hold(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("requeued", "1")
    job_id = submit_job(runtime, account).job.id
    lease = runtime.queue.claim_next("w")
    assert lease is not None
    assert runtime.queue.release(lease)
    assert runtime.queue.get(job_id).status is Status.QUEUED
    assert hold_of(runtime, job_id).state == "pending"


def test_the_ledger_is_append_only_and_a_hold_is_captured_once(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("append-only", "5")
    job_id = submit_job(runtime, account).job.id
    with runtime.db.begin() as conn:
        assert billing.capture_hold(conn, job_id)
    for statement in ("UPDATE ledger_entries SET amount = 100", "DELETE FROM ledger_entries"):
        with pytest.raises(DatabaseError, match="append-only"), runtime.db.begin() as conn:
            conn.execute(text(statement))
    hold_id = hold_of(runtime, job_id).id
    with pytest.raises(IntegrityError), runtime.db.begin() as conn:
        conn.execute(insert(ledger_entries).values(
            id="le_dup", account_id=account, kind="capture", amount=Decimal("-0.70"), hold_id=hold_id, job_id=job_id,
            created_at=0.0))
    assert balances(runtime, account).balance == Decimal("4.30")


def test_concurrent_submits_cannot_spend_the_same_balance(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("racer", "2.10")  # three 5-second 720p jobs
    barrier, outcomes = threading.Barrier(10), []

    def submit() -> None:
        barrier.wait()
        try:
            submit_job(runtime, account, duration=5)
            outcomes.append("ok")
        except InsufficientCredits:
            outcomes.append("402")

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["402"] * 7 + ["ok"] * 3
    assert count_rows(runtime, holds, account_id=account) == 3
    money = balances(runtime, account)
    assert (money.available, money.held) == (Decimal("0"), Decimal("2.10"))
