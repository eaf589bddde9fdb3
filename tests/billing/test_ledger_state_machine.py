"""A Hypothesis state machine over the money: top-ups, submits (some with an
Idempotency-Key, some repeated), claims, completions, failures, cancels,
shutdown releases, worker crashes (lease expiry + reaper) and replays of a
finish with the same or a stale lease — on SQLite and on PostgreSQL.

Invariants after every step:
- the balance is the sum of the account's ledger entries, and equals the
  grants minus the price of each completed job (charged at most once);
- the available balance (balance − pending holds) is never negative;
- every job has exactly one hold: pending while queued or running, captured
  when completed, released when failed or cancelled.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, update

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits, read_balances
from happyhorse.billing.money import to_decimal
from happyhorse.db.schema import holds, jobs, ledger_entries
from happyhorse.errors import Conflict, IdempotencyMismatch, InsufficientCredits
from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.status import TERMINAL, Status
from happyhorse.billing.pricing import job_cost
from happyhorse.runtime import Runtime

from .conftest import submit_job

FINISHES = st.sampled_from(["complete", "fail", "ack_cancel", "release"])
HOLD_STATE = {Status.QUEUED: "pending", Status.RUNNING: "pending", Status.COMPLETED: "captured",
              Status.FAILED: "released", Status.CANCELLED: "released"}


class LedgerMachine(RuleBasedStateMachine):
    runtime: Runtime  # set by the test before running

    @initialize(credit=st.sampled_from(["0", "0.42", "3", "20"]))
    def open_account(self, credit: str) -> None:
        self.account_id = create_account(self.runtime.db, f"sm-{uuid.uuid4().hex[:10]}").id
        self.granted = Decimal(0)
        if Decimal(credit):
            self.top_up(credit)
        self.prices: dict[str, Decimal] = {}
        self.leases: dict[str, list[ClaimedJob]] = {}
        self.keys: dict[str, tuple[dict, str]] = {}
        self.queue = self.runtime.queue

    # -- reading the truth -------------------------------------------------

    def statuses(self) -> dict[str, Status]:
        with self.runtime.db.connect() as conn:
            rows = conn.execute(select(jobs.c.id, jobs.c.status).where(jobs.c.account_id == self.account_id)).all()
        return {r.id: Status(r.status) for r in rows}

    def with_status(self, *wanted: Status) -> list[str]:
        return sorted(j for j, s in self.statuses().items() if s in wanted)

    def current_lease(self, job_id: str) -> ClaimedJob:
        return self.leases[job_id][-1]

    # -- rules -------------------------------------------------------------

    @rule(amount=st.sampled_from(["0.42", "1", "5", "0.000001"]))
    def top_up(self, amount: str) -> None:
        grant_credits(self.runtime.db, self.account_id, Decimal(amount))
        self.granted += Decimal(amount)

    @rule(duration=st.integers(3, 15), resolution=st.sampled_from(["720p", "1080p"]),
          key=st.sampled_from([None, None, "k1", "k2"]), prompt=st.sampled_from(["a horse", "a zebra"]))
    def submit(self, duration: int, resolution: str, key: str | None, prompt: str) -> None:
        body = {"prompt": prompt, "duration": duration, "resolution": resolution}
        price = job_cost(resolution, duration)
        statuses = self.statuses()
        held = sum((self.prices[j] for j, s in statuses.items() if s not in TERMINAL), Decimal(0))
        charged = sum((self.prices[j] for j, s in statuses.items() if s is Status.COMPLETED), Decimal(0))
        available = self.granted - charged - held
        if key in self.keys:
            first_body, first_job = self.keys[key]
            if first_body != body:
                with pytest.raises(IdempotencyMismatch):
                    submit_job(self.runtime, self.account_id, key=key, **body)
                return
            replay = submit_job(self.runtime, self.account_id, key=key, **body)
            assert replay.replayed and replay.job.id == first_job
            event("submit: replayed")
            return
        if price > available:
            with pytest.raises(InsufficientCredits):
                submit_job(self.runtime, self.account_id, key=key, **body)
            event("submit: 402")
            return
        submitted = submit_job(self.runtime, self.account_id, key=key, **body)
        assert not submitted.replayed
        event("submit: accepted")
        self.prices[submitted.job.id] = price
        if key is not None:
            self.keys[key] = (body, submitted.job.id)

    @precondition(lambda self: self.prices)
    @rule()
    def claim(self) -> None:
        claimed = self.queue.claim_next("w", lease_seconds=30)
        if claimed is not None:
            assert claimed.job.account_id == self.account_id
            self.leases.setdefault(claimed.job.id, []).append(claimed)

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), how=FINISHES)
    def finish(self, data: st.DataObject, how: str) -> None:
        running = self.with_status(Status.RUNNING)
        if running:
            job_id = data.draw(st.sampled_from(running))
            event(f"finish {how}: {self._finish(self.current_lease(job_id), how)}")

    @precondition(lambda self: self.prices)
    @rule(how=FINISHES)
    def run_next(self, how: str) -> None:
        """A worker claims the next job and ends it at once."""
        self.claim()
        running = self.with_status(Status.RUNNING)
        if running:
            event(f"run_next {how}: {self._finish(self.current_lease(running[-1]), how)}")

    @precondition(lambda self: self.prices)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.prices)))
        try:
            self.queue.request_cancel(self.account_id, job_id)
        except Conflict:
            assert self.statuses()[job_id] in TERMINAL

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), max_attempts=st.integers(1, 3))
    def crash(self, data: st.DataObject, max_attempts: int) -> None:
        """The worker dies: its lease lapses and the reaper takes the job back, or
        ends it (cancelled if asked; failed once it has used ``max_attempts``)."""
        running = self.with_status(Status.RUNNING)
        if running:
            job_id = data.draw(st.sampled_from(running))
            with self.runtime.db.begin() as conn:
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(lease_expires_at=0.0))
            reaped = self.queue.reap_expired(max_attempts=max_attempts)
            event(f"crash: {len(reaped.requeued)} requeued, {len(reaped.failed)} failed, "
                  f"{len(reaped.cancelled)} cancelled")

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), how=FINISHES)
    def replay_finish(self, data: st.DataObject, how: str) -> None:
        """A second finish attempt, with the same lease or a stale one."""
        job_id = data.draw(st.sampled_from(sorted(self.leases)))
        lease = data.draw(st.sampled_from(self.leases[job_id]))
        status = self.statuses()[job_id]
        is_current = lease is self.current_lease(job_id) and status is Status.RUNNING
        finished = self._finish(lease, how)
        event(f"replay {how}: current={is_current} finished={finished}")
        if finished:
            assert is_current, "a stale or ended lease finished a job"

    def _finish(self, lease: ClaimedJob, how: str) -> bool:
        if how == "complete":
            return self.queue.complete(lease, result={"seed": 1, "outputs": []}, outputs=[])
        if how == "fail":
            return self.queue.fail(lease, code="boom", message="boom")
        if how == "ack_cancel":
            return self.queue.acknowledge_cancel(lease)
        return self.queue.release(lease)

    # -- invariants ----------------------------------------------------------

    @invariant()
    def money_adds_up(self) -> None:
        with self.runtime.db.connect() as conn:
            entries = conn.execute(
                select(ledger_entries.c.kind, ledger_entries.c.amount, ledger_entries.c.job_id)
                .where(ledger_entries.c.account_id == self.account_id)
            ).all()
            balances = read_balances(conn, self.account_id)
            hold_rows = conn.execute(
                select(holds.c.job_id, holds.c.state, holds.c.amount).where(holds.c.account_id == self.account_id)
            ).all()
        statuses = self.statuses()
        assert balances.balance == sum((to_decimal(e.amount) for e in entries), Decimal(0))
        completed = [j for j, s in statuses.items() if s is Status.COMPLETED]
        assert balances.balance == self.granted - sum((self.prices[j] for j in completed), Decimal(0))
        assert balances.available >= 0
        by_job = {h.job_id: h for h in hold_rows}
        assert len(by_job) == len(hold_rows) == len(statuses)
        for job_id, status in statuses.items():
            hold = by_job[job_id]
            assert hold.state == HOLD_STATE[status], (job_id, status, hold.state)
            assert to_decimal(hold.amount) == self.prices[job_id]
        captures = [e for e in entries if e.kind == "capture"]
        assert sorted(e.job_id for e in captures) == sorted(completed)  # each completed job charged exactly once
        for entry in captures:
            assert to_decimal(entry.amount) == -self.prices[entry.job_id]

    def teardown(self) -> None:
        # End what this run left, so the next run's claims find only its own jobs.
        for job_id, status in self.statuses().items():
            if status is Status.QUEUED:
                self.queue.request_cancel(self.account_id, job_id)
            elif status is Status.RUNNING:
                self.queue.fail(self.current_lease(job_id), code="teardown", message="end of run")
        if hasattr(self, "account_id"):
            self.money_adds_up()


def test_ledger_state_machine(runtime: Runtime) -> None:
    LedgerMachine.runtime = runtime
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(max_examples=25, stateful_step_count=40, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )
