"""Webhook fixtures: a migrated database with two accounts, a queue wired like Runtime.open's,
and a live service (API + in-process worker) that allows loopback webhook URLs. The loopback
receivers (``receiver``) are in the root conftest."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.engine import make_engine
from happyhorse.db.migrate import upgrade
from happyhorse.db.schema import accounts
from happyhorse.jobs.queue import JobQueue
from happyhorse.settings import Settings
from happyhorse.testing import running_service, sample_request
from happyhorse.ids import new_id
from happyhorse.webhooks.outbox import ending_hooks, record_started_event, record_webhook_event

ACCOUNT, OTHER = "acc_a", "acc_b"
ENDINGS = ["video.completed", "video.failed", "video.cancelled"]


@pytest.fixture(scope="package")
def service(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-webhooks"), signing_secret="test-secret",
                        allow_private_fetch=True)
    with running_service(settings) as live:
        yield live


@pytest.fixture
def api(service):
    with httpx.Client(base_url=service.base_url, headers=service.headers(), timeout=30) as client:
        yield client


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        for account_id in (ACCOUNT, OTHER):
            conn.execute(insert(accounts).values(id=account_id, name=account_id, created_at=db_now(conn.dialect.name)))
    yield engine
    engine.dispose()


@pytest.fixture
def queue(engine: Engine) -> JobQueue:
    return JobQueue(engine, on_end=ending_hooks(record_webhook_event), on_start=record_started_event)


@pytest.fixture
def submit(queue: JobQueue) -> Callable[..., str]:
    def submit(account_id: str = ACCOUNT) -> str:
        job_id = new_id("job")
        with queue.engine.begin() as conn:
            queue.insert_job(conn, job_id=job_id, account_id=account_id, model="happyhorse-1-1",
                             request=sample_request())
        return job_id

    return submit
