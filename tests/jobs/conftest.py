"""Fixtures for the job queue tests: a migrated database, a queue, accounts, jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.engine import make_engine
from happyhorse.db.migrate import upgrade
from happyhorse.db.schema import accounts
from happyhorse.ids import new_id
from happyhorse.jobs.queue import JobQueue
from happyhorse.jobs.status import Status
from happyhorse.testing import sample_request

ACCOUNT = "acc_a"
OTHER_ACCOUNT = "acc_b"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        for account_id in (ACCOUNT, OTHER_ACCOUNT):
            conn.execute(insert(accounts).values(id=account_id, name=account_id, created_at=db_now(conn.dialect.name)))
    yield engine
    engine.dispose()


Ended = list[tuple[str, Status]]


@pytest.fixture
def ended() -> Ended:
    """What the queue's ``on_end`` hook was called with, in order: ``(job_id, status)``."""
    return []


@pytest.fixture
def queue(engine: Engine, ended: Ended) -> JobQueue:
    """A queue whose ``on_end`` hook records each call in ``ended`` (and checks it runs in a transaction)."""

    def on_end(conn, job_id: str, status: Status) -> None:  # type: ignore[no-untyped-def]
        assert conn.in_transaction()
        ended.append((job_id, status))

    return JobQueue(engine, on_end=on_end)


Submit = Callable[..., str]


@pytest.fixture
def submit(queue: JobQueue) -> Submit:
    """``submit(priority=0, account_id=ACCOUNT) -> job_id``: one queued job, committed."""

    def _submit(*, priority: int = 0, account_id: str = ACCOUNT) -> str:
        job_id = new_id("job")
        with queue.engine.begin() as conn:
            queue.insert_job(
                conn, job_id=job_id, account_id=account_id, model="happyhorse-1-1",
                request=sample_request(duration=5), priority=priority,
            )
        return job_id

    return _submit


@pytest.fixture
def submit_many(queue: JobQueue) -> Callable[[int], list[str]]:
    """``submit_many(count) -> ids``: queued jobs in one transaction, oldest first."""

    def _submit_many(count: int) -> list[str]:
        ids = [new_id("job") for _ in range(count)]
        with queue.engine.begin() as conn:
            for job_id in ids:
                queue.insert_job(conn, job_id=job_id, account_id=ACCOUNT, model="m", request=sample_request(prompt=job_id))
        return ids

    return _submit_many


@pytest.fixture
def account() -> str:
    return ACCOUNT


@pytest.fixture
def other_account() -> str:
    return OTHER_ACCOUNT


@pytest.fixture
def video_output() -> dict:
    return {
        "kind": "video", "storage_key": "outputs/x.mp4", "content_type": "video/mp4", "bytes": 1000,
        "width": 1280, "height": 720, "fps": 24, "duration": 5.0, "has_audio": True,
    }
