"""Per-account job caps: queued (429 at submit) and running (the claim skips to other accounts)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.engine import make_engine
from happyhorse.db.migrate import upgrade
from happyhorse.db.schema import accounts
from happyhorse.ids import new_id
from happyhorse.jobs.queue import JobQueue
from happyhorse.submit.queued_cap import QUEUED_RETRY_AFTER_SECONDS
from happyhorse.settings import Settings
from happyhorse.testing import running_service, sample_request

BODY = {"prompt": "a horse", "duration": 3}


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-caps"), signing_secret="test-secret",
                        max_queued_jobs_per_account=2)
    with running_service(settings, worker=False) as live:  # no worker: jobs stay queued
        yield live


def test_queued_cap_is_a_429_and_takes_no_hold(capped) -> None:
    with httpx.Client(base_url=capped.base_url, headers=capped.headers(), timeout=30) as client:
        first = client.post("/v1/videos/generations", json=BODY).json()
        client.post("/v1/videos/generations", json=BODY).raise_for_status()
        held = client.get("/v1/account").json()

        refused = client.post("/v1/videos/generations", json=BODY)
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert (error["type"], error["code"], error["param"]) == ("rate_limit_error", "too_many_queued_jobs", None)
        assert "at most 2 queued" in error["message"]
        assert refused.headers["retry-after"] == str(QUEUED_RETRY_AFTER_SECONDS)
        assert client.get("/v1/account").json() == held  # rolled back with the job: no hold
        assert len(client.get("/v1/jobs").json()["data"]) == 2

        # Another account is not affected; cancelling frees a place.
        other = capped.new_account_key("someone-else")
        assert client.post("/v1/videos/generations", json=BODY, headers=capped.headers(other)).status_code < 300
        client.post(f"/v1/jobs/{first['job_id']}/cancel").raise_for_status()
        assert client.post("/v1/videos/generations", json=BODY).status_code < 300


A, B = "acc_capped", "acc_other"


@pytest.fixture
def queue(database_url: str) -> Iterator[JobQueue]:
    upgrade(database_url)
    engine: Engine = make_engine(database_url)
    with engine.begin() as conn:
        for account_id in (A, B):
            conn.execute(insert(accounts).values(id=account_id, name=account_id, created_at=db_now(conn.dialect.name)))
    yield JobQueue(engine)
    engine.dispose()


def _submit(queue: JobQueue, account_id: str) -> str:
    job_id = new_id("job")
    with queue.engine.begin() as conn:
        queue.insert_job(conn, job_id=job_id, account_id=account_id, model="m", request=sample_request(prompt="p"))
    return job_id


def test_running_cap_makes_the_claim_skip_to_another_account(queue: JobQueue) -> None:
    a1, a2 = _submit(queue, A), _submit(queue, A)
    b1 = _submit(queue, B)  # newest: without the cap it would wait for both of A's

    first = queue.claim_next("w1", max_running_per_account=1)
    second = queue.claim_next("w2", max_running_per_account=1)
    assert (first.job.id, second.job.id) == (a1, b1)
    assert queue.claim_next("w3", max_running_per_account=1) is None  # a2 waits: A is at its cap

    assert queue.fail(first, code="engine_error", message="test")  # A runs nothing now
    assert queue.claim_next("w3", max_running_per_account=1).job.id == a2
