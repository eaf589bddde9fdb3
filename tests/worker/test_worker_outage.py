"""The worker through a database outage (PostgreSQL restarting): it backs off, keeps
retrying without anybody's help, and logs one traceback per streak, not one per try.
The real restart under load is tests/chaos/test_pg_restart.py."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import OperationalError

import happyhorse.worker.loop as worker_module
from happyhorse.jobs.status import Status
from happyhorse.worker import Worker

from .conftest import StubEngine, wait_until, worker_running

OUTAGE_TRIES = 5


def test_the_worker_backs_off_through_an_outage_and_then_works(runtime, submit, monkeypatch, caplog) -> None:
    job = submit()
    real_claim = runtime.queue.claim_next
    calls: list[float] = []

    def claim_during_outage(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= OUTAGE_TRIES:
            raise OperationalError("SELECT", {}, Exception("connection refused\nIs the server running?"))
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(runtime.queue, "claim_next", claim_during_outage)
    monkeypatch.setattr(worker_module, "LOOP_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(worker_module, "LOOP_RETRY_MAX_SECONDS", 0.04)
    worker = Worker(runtime, StubEngine(), worker_id="w1")
    with caplog.at_level(logging.INFO, logger="happyhorse.worker"), worker_running(worker):
        wait_until(lambda: runtime.queue.get(job.id).status is Status.COMPLETED, timeout=20)
    assert len(calls) > OUTAGE_TRIES
    loop_records = [r for r in caplog.records if "work loop" in r.getMessage() or "still failing" in r.getMessage()]
    assert len(loop_records) == OUTAGE_TRIES
    assert [r.exc_info is not None for r in loop_records] == [True] + [False] * (OUTAGE_TRIES - 1)
    assert "still failing (5 in a row: OperationalError" in loop_records[-1].getMessage()
