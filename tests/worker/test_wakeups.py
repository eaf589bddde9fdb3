"""Wake-ups across processes on PostgreSQL (LISTEN/NOTIFY): a worker hears of a job queued, and of
a running job's cancel, through another connection pool at once — shown with the polls slowed to a
minute, so only a notification can explain the speed. A second :class:`Runtime` on the same database
stands in for the API process (its own engine, pool and in-process signal)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits
from happyhorse.jobs.notify import Listener
from happyhorse.jobs.status import Status
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.submit.request import parse_generation_request
from happyhorse.submit.service import submit_generation
from happyhorse.worker import Worker
from happyhorse.worker import lease as worker_lease
from happyhorse.worker import loop as worker_loop

from .conftest import GpuStubEngine, wait_until, worker_running

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Runtime, str]]:
    """(the worker's runtime, the "API" runtime, an account with credit) on one fresh database.
    Leases are long, so only a notification (never a heartbeat) makes the watcher look."""
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, signing_secret="s",
                        lease_seconds=120, heartbeat_seconds=60)
    api = Runtime.open(settings)
    worker_side = Runtime.open(settings, migrate=False)
    account = create_account(api.db, "wakeups")
    grant_credits(api.db, account.id, Decimal("100"))
    yield worker_side, api, account.id
    worker_side.close()
    api.close()


@contextmanager
def running(worker: Worker) -> Iterator[None]:
    """``worker`` running in a thread; stopped and woken after the block (its poll is a minute long)."""
    with worker_running(worker):
        try:
            yield
        finally:
            worker.stop.set()
            worker.runtime.queue.wake()


def submit(api: Runtime, account_id: str, prompt: str = "a horse"):
    request = parse_generation_request({"prompt": prompt, "duration": 3, "seed": 7})
    return submit_generation(api, account_id, request, [])[0]


def test_a_job_queued_by_another_process_is_claimed_without_waiting_for_a_poll(world, monkeypatch) -> None:
    worker_side, api, account_id = world
    monkeypatch.setattr(worker_loop, "POLL_SECONDS", 60.0)
    worker = Worker(worker_side, GpuStubEngine(steps=2, step_seconds=0.01))
    with running(worker):
        wait_until(worker.listener.listening.is_set)
        time.sleep(0.5)  # the loop has looked at the empty queue and sleeps for its minute
        job = submit(api, account_id)
        wait_until(lambda: api.queue.get(job.id).status is Status.COMPLETED, timeout=20)


def test_without_the_listener_the_same_job_waits_for_the_poll(world, monkeypatch) -> None:
    worker_side, api, account_id = world
    monkeypatch.setattr(worker_loop, "POLL_SECONDS", 60.0)
    worker = Worker(worker_side, GpuStubEngine(steps=2, step_seconds=0.01), listen=False)
    assert worker.listener is None
    with running(worker):
        wait_until(lambda: worker_side.workers.serving(60).workers)
        time.sleep(0.5)  # the loop has looked at the empty queue and sleeps for its minute
        job = submit(api, account_id)
        with pytest.raises(AssertionError):
            wait_until(lambda: api.queue.get(job.id).status is not Status.QUEUED, timeout=2)


def test_a_cancel_requested_elsewhere_reaches_the_running_job_at_once(world, monkeypatch) -> None:
    worker_side, api, account_id = world
    monkeypatch.setattr(worker_lease, "CANCEL_POLL_SECONDS", 60.0)
    engine = GpuStubEngine(steps=400, step_seconds=0.05)  # 20 s unless cancelled
    worker = Worker(worker_side, engine)
    with running(worker):
        wait_until(worker.listener.listening.is_set)
        job = submit(api, account_id)
        wait_until(lambda: engine.generating == 1, timeout=20)
        assert api.queue.request_cancel(account_id, job.id).cancel_requested
        wait_until(lambda: api.queue.get(job.id).status is Status.CANCELLED, timeout=10)


def test_the_listener_hears_commits_only_and_comes_back_after_losing_its_connection(world) -> None:
    _, api, _ = world
    heard: list[str] = []
    listener = Listener(api.db, on_job=lambda: heard.append("job"), on_cancel=lambda job_id: heard.append(job_id))
    listener.start()
    try:
        wait_until(listener.listening.is_set)
        with api.db.connect() as conn:
            conn.execute(text("SELECT pg_notify('happyhorse_jobs', '')"))
            conn.rollback()  # never heard
            conn.execute(text("SELECT pg_notify('happyhorse_cancel', 'job_x')"))
            conn.commit()
        wait_until(lambda: heard == ["job_x"])
        with api.db.connect() as conn:  # the server drops the listener's connection
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query LIKE 'LISTEN%' AND datname = current_database() AND pid <> pg_backend_pid()"))
            conn.commit()
        wait_until(lambda: "job" in heard, timeout=10)  # reconnected: one wake-up for what it may have missed
        wait_until(listener.listening.is_set)
        heard.clear()
        with api.db.begin() as conn:
            conn.execute(text("SELECT pg_notify('happyhorse_jobs', '')"))
        wait_until(lambda: heard == ["job"])
    finally:
        listener.stop()
    assert not listener.listening.is_set()
