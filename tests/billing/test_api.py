"""Money over real HTTP: ``GET /v1/account``, 402, holds captured by the real worker,
released on cancel and failure, and ``Idempotency-Key`` (200 replay, 422, 409, 20 at once)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

import happyhorse
from happyhorse.submit import service as submission
from happyhorse.api.schemas import AccountObject, JobObject
from happyhorse.db.schema import holds, jobs
from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service

from .conftest import count_rows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[LiveService]:
    """API + the real in-process worker on the preview engine."""
    with running_service(Settings(data_dir=tmp_path_factory.mktemp("hh-billing"), signing_secret="s")) as live:
        yield live


@pytest.fixture(scope="module")
def idle(tmp_path_factory) -> Iterator[LiveService]:
    """API only: jobs stay queued, holds stay pending."""
    with running_service(Settings(data_dir=tmp_path_factory.mktemp("hh-billing-idle"), signing_secret="s"),
                         worker=False) as live:
        yield live


def client(live: LiveService, key: str) -> httpx.Client:
    return httpx.Client(base_url=live.base_url, headers=live.headers(key), timeout=30)


def account(http: httpx.Client) -> dict:
    response = http.get("/v1/account")
    assert response.status_code == 200, response.text
    AccountObject.model_validate(response.json())
    return response.json()


def wait_for_end(http: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (job := http.get(f"/v1/jobs/{job_id}").json())["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def test_the_worker_captures_exactly_the_price(service: LiveService) -> None:
    with client(service, service.new_account_key("capture", credits="5")) as http:
        assert account(http)["balance_usd"] == "5.00"
        submitted = http.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3})
        assert submitted.status_code == 202
        job = wait_for_end(http, submitted.json()["job_id"])
        assert job["status"] == "completed", job
        assert job["usage"] == {"billed_seconds": 3, "unit_price_usd": "0.14", "cost_usd": "0.42"}
        JobObject.model_validate(job)
        listed = http.get("/v1/jobs").json()["data"][0]
        assert listed["usage"] == job["usage"]
        money = account(http)
    assert (money["balance_usd"], money["held_usd"], money["available_usd"], money["spent_this_month_usd"]) == (
        "4.58", "0.00", "4.58", "0.42")
    assert money["currency"] == "USD" and money["pending_holds"] == 0 and money["name"] == "capture"


def test_a_failed_job_costs_nothing(service: LiveService) -> None:
    with client(service, service.new_account_key("failure", credits="1")) as http:
        # Loopback URLs are refused by the fetch guard at submit: a 400, no job, no hold.
        refused = http.post("/v1/videos/generations",
                            json={"prompt": "a horse", "duration": 5, "image": "http://127.0.0.1:9/horse.png"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_image", refused.text
        assert account(http)["pending_holds"] == 0
        # An upload whose stored file is gone is accepted; the worker fails the job.
        upload_id = http.post("/v1/uploads", files={"file": ("h.png", png(640, 480), "image/png")}).json()["upload_id"]
        for listed in list(service.runtime.storage.list_objects(f"uploads/{upload_id}.")):
            service.runtime.storage.delete(listed.key)
        submitted = http.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 5, "image": upload_id})
        assert submitted.status_code == 202, submitted.text
        job = wait_for_end(http, submitted.json()["job_id"])
        assert job["status"] == "failed" and job["usage"] is None
        money = account(http)
    assert (money["balance_usd"], money["held_usd"], money["spent_this_month_usd"]) == ("1.00", "0.00", "0.00")


def png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_holds_show_on_the_account_and_cancel_releases_them(idle: LiveService) -> None:
    with client(idle, idle.new_account_key("holder", credits="10")) as http:
        first = http.post("/v1/videos/generations", json={"prompt": "a", "duration": 5}).json()
        http.post("/v1/videos/generations", json={"prompt": "b", "duration": 10, "resolution": "1080p"})
        money = account(http)
        assert (money["balance_usd"], money["held_usd"], money["available_usd"], money["pending_holds"]) == (
            "10.00", "2.50", "7.50", 2)
        assert http.post(f"/v1/jobs/{first['job_id']}/cancel").json()["status"] == "cancelled"
        money = account(http)
    assert (money["balance_usd"], money["held_usd"], money["available_usd"]) == ("10.00", "1.80", "8.20")


def test_402_when_the_available_balance_is_short(idle: LiveService) -> None:
    with client(idle, idle.new_account_key("pauper", credits="0.50")) as http:
        refused = http.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 5})
        assert refused.status_code == 402
        error = refused.json()["error"]
        assert (error["type"], error["code"], error["param"]) == ("billing_error", "insufficient_credits", None)
        assert "$0.70" in error["message"] and "$0.50" in error["message"]
        assert http.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3}).status_code == 202


def test_idempotency_key_replays_refuses_other_bodies_and_bad_keys(idle: LiveService) -> None:
    with client(idle, idle.new_account_key("idem-http", credits="5")) as http:
        body = {"prompt": "a horse", "duration": 3}
        first = http.post("/v1/videos/generations", json=body, headers={"Idempotency-Key": "abc"})
        again = http.post("/v1/videos/generations", json=body, headers={"Idempotency-Key": "abc"})
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["job_id"] == first.json()["job_id"]
        assert again.headers["location"] == first.headers["location"] and again.headers["idempotent-replayed"] == "true"
        other = http.post("/v1/videos/generations", json={**body, "seed": 5}, headers={"Idempotency-Key": "abc"})
        assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
        bad = http.post("/v1/videos/generations", json=body, headers={"Idempotency-Key": "x" * 256})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "Idempotency-Key"
        # The SDK sends a key on every create; replays come back as the same job.
        with happyhorse.Client(api_key=http.headers["authorization"].split()[1], base_url=idle.base_url) as sdk:
            job = sdk.videos.generate(prompt="sdk", duration=3, idempotency_key="sdk-key")
            assert sdk.videos.generate(prompt="sdk", duration=3, idempotency_key="sdk-key").job_id == job.job_id


def test_409_while_the_first_request_is_in_flight(idle: LiveService, monkeypatch) -> None:
    entered, release = threading.Event(), threading.Event()
    original = submission.submit_generation

    def held_submit(*args, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        assert release.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(submission, "submit_generation", held_submit)
    key = idle.new_account_key("in-flight", credits="5")
    body, headers = {"prompt": "slow", "duration": 3}, {"Idempotency-Key": "held"}
    answers: list[httpx.Response] = []
    with client(idle, key) as http:
        first = threading.Thread(target=lambda: answers.append(http.post("/v1/videos/generations", json=body,
                                                                         headers=headers)))
        first.start()
        assert entered.wait(10)
        monkeypatch.setattr(submission, "submit_generation", original)
        second = http.post("/v1/videos/generations", json=body, headers=headers)
        release.set()
        first.join(30)
        assert second.status_code == 409 and second.json()["error"]["code"] == "idempotency_key_in_flight"
        assert answers[0].status_code == 202
        third = http.post("/v1/videos/generations", json=body, headers=headers)
        assert third.status_code == 200 and third.json()["job_id"] == answers[0].json()["job_id"]


def test_twenty_concurrent_submits_with_one_key_make_one_job_and_one_hold(idle: LiveService) -> None:
    key = idle.new_account_key("twenty", credits="5")
    barrier, statuses, job_ids, lock = threading.Barrier(20), [], set(), threading.Lock()

    def submit() -> None:
        with client(idle, key) as http:
            barrier.wait()
            response = http.post("/v1/videos/generations", json={"prompt": "same", "duration": 3},
                                 headers={"Idempotency-Key": "one-key"})
            with lock:
                statuses.append(response.status_code)
                if response.status_code in (200, 202):
                    job_ids.add(response.json()["job_id"])
        # The SDK retries the 409s until the first request is done.
        with happyhorse.Client(api_key=key, base_url=idle.base_url) as sdk:
            job = sdk.videos.generate(prompt="same", duration=3, idempotency_key="one-key")
            with lock:
                job_ids.add(job.job_id)

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses.count(202) == 1 and set(statuses) <= {200, 202, 409} and len(statuses) == 20
    assert len(job_ids) == 1
    (job_id,) = job_ids
    account_id = idle.runtime.queue.get(job_id).account_id
    assert count_rows(idle.runtime, jobs, account_id=account_id) == 1
    assert count_rows(idle.runtime, holds, account_id=account_id) == 1
    with client(idle, key) as http:
        assert account(http)["held_usd"] == "0.42"


def test_new_accounts_start_with_no_credit(idle: LiveService) -> None:
    with client(idle, idle.new_account_key("empty", credits="0")) as http:
        money = account(http)
        assert (money["balance_usd"], money["available_usd"]) == ("0.00", "0.00")
        assert http.post("/v1/videos/generations", json={"prompt": "x", "duration": 3}).status_code == 402
    assert Decimal(money["balance_usd"]) == 0
