"""``Idempotency-Key`` at the service level, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from happyhorse.submit import idempotency
from happyhorse.billing.ledger import grant_credits
from happyhorse.db.schema import holds, idempotency_keys, jobs
from happyhorse.errors import Conflict, IdempotencyMismatch, InsufficientCredits, InvalidRequest
from happyhorse.runtime import Runtime

from .conftest import NewAccount, count_rows, submit_job


@pytest.mark.parametrize("bad", ["", "x" * 256, "caf\u00e9", "tab\there", "line\nbreak"])
def test_a_bad_key_is_a_400_naming_the_header(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        idempotency.checked_idempotency_key(bad)
    assert (caught.value.code, caught.value.param) == ("invalid_idempotency_key", "Idempotency-Key")


def test_good_keys_and_fingerprints() -> None:
    assert idempotency.checked_idempotency_key(None) is None
    assert idempotency.checked_idempotency_key("x" * 255) == "x" * 255
    assert idempotency.checked_idempotency_key("a b~!") == "a b~!"
    fp = idempotency.request_fingerprint
    assert fp({"a": 1, "b": [1, 2]}) == fp({"b": [1, 2], "a": 1})
    assert fp({"a": 1}) != fp({"a": 2})
    assert fp({"a": 1}, [b"one"]) != fp({"a": 1}, [b"two"]) != fp({"a": 1})


def test_same_key_and_body_replays_the_first_job(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("replayer", "5")
    first = submit_job(runtime, account, key="k-1")
    again = submit_job(runtime, account, key="k-1")
    assert not first.replayed and again.replayed and again.job.id == first.job.id
    assert count_rows(runtime, jobs, account_id=account) == count_rows(runtime, holds, account_id=account) == 1
    # Keys belong to an account: another account's same key is a new request.
    other = new_account("other", "5")
    assert submit_job(runtime, other, key="k-1").job.id != first.job.id


def test_same_key_other_body_is_a_422(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("reuser", "5")
    submit_job(runtime, account, key="k-2", prompt="a horse")
    with pytest.raises(IdempotencyMismatch) as caught:
        submit_job(runtime, account, key="k-2", prompt="a zebra")
    assert (caught.value.status, caught.value.code, caught.value.param) == (
        422, "idempotency_key_reused", "Idempotency-Key")


def test_a_refused_request_frees_its_key(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("broke", "0.10")
    with pytest.raises(InsufficientCredits):
        submit_job(runtime, account, key="k-3")
    assert count_rows(runtime, idempotency_keys, account_id=account) == 0
    grant_credits(runtime.db, account, Decimal("1"))
    assert not submit_job(runtime, account, key="k-3").replayed


def test_in_flight_then_a_dead_claim_is_taken_over(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("inflight", "5")
    fingerprint = idempotency.request_fingerprint({"prompt": "a horse"})
    stuck = idempotency.claim_key(runtime.db, account, "k-4", fingerprint)
    with pytest.raises(Conflict) as caught:
        idempotency.claim_key(runtime.db, account, "k-4", fingerprint)
    assert (caught.value.status, caught.value.code) == (409, "idempotency_key_in_flight")
    with pytest.raises(IdempotencyMismatch):  # another body is refused even while in flight
        idempotency.claim_key(runtime.db, account, "k-4", "0" * 64)
    # The claimer died: after the in-flight timeout the key is taken over, and the dead claim cannot finish.
    _age_key(runtime, account, "k-4", idempotency.IN_FLIGHT_TIMEOUT_SECONDS + 1)
    fresh = idempotency.claim_key(runtime.db, account, "k-4", fingerprint)
    assert fresh.replay_job_id is None and fresh.token != stuck.token
    with pytest.raises(Conflict), runtime.db.begin() as conn:
        idempotency.complete_claim(conn, stuck, "job_none")


def test_keys_are_kept_24_hours_then_forgotten(runtime: Runtime, new_account: NewAccount, monkeypatch) -> None:
    account = new_account("forgetful", "5")
    first = submit_job(runtime, account, key="k-5")
    _age_key(runtime, account, "k-5", 23 * 3600)
    assert submit_job(runtime, account, key="k-5").job.id == first.job.id
    _age_key(runtime, account, "k-5", 25 * 3600)
    # Past retention the key is new again, whatever the body; and it is purged by the next claim.
    assert submit_job(runtime, account, key="k-5", prompt="a new request").job.id != first.job.id
    old = submit_job(runtime, account, key="k-6")
    _age_key(runtime, account, "k-6", 25 * 3600)
    monkeypatch.setattr(idempotency, "_next_purge", 0.0)
    submit_job(runtime, account, key="k-7")
    with runtime.db.connect() as conn:
        keys = conn.execute(select(idempotency_keys.c.key).where(idempotency_keys.c.account_id == account)).scalars()
        assert sorted(keys) == ["k-5", "k-7"]
    assert old.job.id


def test_twenty_threads_one_key_make_one_job(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("stampede", "5")
    barrier, outcomes, lock = threading.Barrier(20), [], threading.Lock()

    def submit() -> None:
        barrier.wait()
        deadline = time.monotonic() + 30  # a time, not a count of tries: a loaded machine is slow
        while time.monotonic() < deadline:
            try:
                result = submit_job(runtime, account, key="same")
            except Conflict:
                time.sleep(0.01)  # in flight: retry, as the SDK does
                continue
            with lock:
                outcomes.append((result.job.id, result.replayed))
            return

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 20 and len({job_id for job_id, _ in outcomes}) == 1
    assert sum(not replayed for _, replayed in outcomes) == 1
    assert count_rows(runtime, jobs, account_id=account) == count_rows(runtime, holds, account_id=account) == 1


def _age_key(runtime: Runtime, account: str, key: str, seconds: float) -> None:
    with runtime.db.begin() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.account_id == account, idempotency_keys.c.key == key)
            .values(created_at=idempotency_keys.c.created_at - seconds)
        )
