"""The retry policy: which answers are retried, how long between tries, one Idempotency-Key."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import pytest

import happyhorse
from happyhorse.client import _base_client
from happyhorse.settings import Settings

JOB = {
    "job_id": "job_01test", "object": "video.generation.job", "model": "happyhorse-1-1", "status": "queued",
    "progress": 0, "queue_position": 1, "created_at": "2026-11-25T15:00:00Z", "started_at": None,
    "completed_at": None, "engine": "preview", "result": None, "usage": None, "error": None,
    "request": {"mode": "t2v", "prompt": "p", "aspect_ratio": "16:9", "resolution": "720p", "duration": 3,
                "seed": 1, "watermark": False, "images": 0},
}


def envelope(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"error": {"type": "x", "code": code, "message": f"{code} happened", "param": None, "request_id": "req_1"}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def delays(monkeypatch) -> list[float]:
    """Every wait between retries, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(_base_client, "sleep", recorded.append)

    async def record(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(_base_client, "async_sleep", record)
    return recorded


def scripted(answers: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that gives ``answers`` in order (an exception is raised) and records the requests."""
    requests: list[httpx.Request] = []
    queue = iter(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), requests


def sync_client(transport: httpx.MockTransport, **options: object) -> happyhorse.Client:
    return happyhorse.Client(api_key="k", base_url="http://api.test", http_client=httpx.Client(transport=transport),
                             **options)  # type: ignore[arg-type]


def test_500_then_429_with_retry_after_then_202_makes_one_submit_with_one_key(delays):
    transport, requests = scripted([envelope(500, "internal_error"), envelope(429, "rate_limited", **{"Retry-After": "1"}),
                                    httpx.Response(202, json=JOB)])
    job = sync_client(transport).videos.generate(prompt="p", duration=3)
    assert job.job_id == "job_01test" and len(requests) == 3
    keys = {request.headers["Idempotency-Key"] for request in requests}
    assert len(keys) == 1 and len(next(iter(keys))) == 36
    assert 0.375 <= delays[0] <= 0.5 and delays[1] == 1.0
    # The next call is another create: a new key.
    transport2, requests2 = scripted([httpx.Response(202, json=JOB)])
    sync_client(transport2).videos.generate(prompt="p")
    assert requests2[0].headers["Idempotency-Key"] not in keys


def test_retry_after_as_an_http_date_and_backoff_grows(delays):
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    transport, requests = scripted([envelope(503, "x", **{"Retry-After": when}), envelope(502, "x"), envelope(504, "x"),
                                    httpx.Response(200, json=JOB)])
    assert sync_client(transport, max_retries=3).jobs.retrieve("job_01test").status == "queued"
    assert 1.5 <= delays[0] <= 3.0
    # Backoff by retry number: 0.5 s, 1 s, 2 s, less up to 25 % jitter.
    assert 0.75 <= delays[1] <= 1.0 and 1.5 <= delays[2] <= 2.0


@pytest.mark.parametrize(("status", "code", "retried"), [
    (408, "timeout", True), (409, "idempotency_key_in_flight", True), (409, "job_not_completed", False),
    (400, "invalid_parameter", False), (401, "invalid_api_key", False), (404, "job_not_found", False),
    (422, "idempotency_key_reused", False),
])
def test_which_statuses_are_retried(delays, status, code, retried):
    transport, requests = scripted([envelope(status, code), httpx.Response(202, json=JOB)])
    client = sync_client(transport)
    if retried:
        assert client.videos.generate(prompt="p").job_id == "job_01test"
        assert len(requests) == 2 and len(delays) == 1
    else:
        with pytest.raises(happyhorse.APIStatusError) as caught:
            client.videos.generate(prompt="p")
        assert caught.value.code == code and len(requests) == 1 and delays == []


def test_retries_are_bounded_then_the_error_is_raised(delays):
    transport, requests = scripted([envelope(500, "internal_error")] * 3)
    with pytest.raises(happyhorse.InternalServerError):
        sync_client(transport).models.list()
    assert len(requests) == 3 and len(delays) == 2
    transport, requests = scripted([envelope(429, "rate_limited")])
    with pytest.raises(happyhorse.RateLimitError):
        sync_client(transport, max_retries=0).models.list()
    assert len(requests) == 1


def test_connection_errors_and_timeouts_are_retried_then_raised(delays):
    transport, requests = scripted([httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                    httpx.Response(202, json=JOB)])
    client = sync_client(transport)
    client.videos.generate(prompt="p")
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1 and len(requests) == 3
    transport, _ = scripted([httpx.ReadTimeout("slow")] * 3)
    with pytest.raises(happyhorse.APITimeoutError):
        sync_client(transport).jobs.retrieve("job_1")
    transport, _ = scripted([httpx.ConnectError("refused")] * 3)
    with pytest.raises(happyhorse.APIConnectionError) as caught:
        sync_client(transport).jobs.retrieve("job_1")
    assert not isinstance(caught.value, happyhorse.APITimeoutError)


@pytest.mark.anyio
async def test_async_retries_reuse_the_key_and_honour_retry_after(delays):
    transport, requests = scripted([envelope(500, "internal_error"), envelope(429, "rate_limited", **{"Retry-After": "1"}),
                                    httpx.Response(202, json=JOB)])
    async with httpx.AsyncClient(transport=transport) as http:
        client = happyhorse.AsyncClient(api_key="k", base_url="http://api.test", http_client=http)
        assert (await client.videos.generate(prompt="p")).job_id == "job_01test"
    assert len(requests) == 3 and len({r.headers["Idempotency-Key"] for r in requests}) == 1
    assert 0.375 <= delays[0] <= 0.5 and delays[1] == 1.0


class FlakyFront:
    """An ASGI app in front of the real one: its first POSTs to the submit path answer
    500, then 429 with Retry-After: 1; later ones go through. Records each Idempotency-Key."""

    def __init__(self, app: Callable) -> None:  # type: ignore[type-arg]
        self.app = app
        self.keys: list[str] = []

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/videos/generations":
            self.keys.append(dict(scope["headers"]).get(b"idempotency-key", b"").decode())
            failure = {1: (500, []), 2: (429, [(b"retry-after", b"1")])}.get(len(self.keys))
            if failure:
                status, headers = failure
                body = b'{"error": {"type": "api_error", "code": "flaky", "message": "try again", "param": null, "request_id": null}}'
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"), *headers]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@pytest.fixture
def flaky_server(tmp_path) -> Iterator[tuple[str, str, FlakyFront]]:
    from happyhorse.accounts import create_account, create_key
    from happyhorse.app import create_app
    from happyhorse.billing.ledger import grant_credits
    from happyhorse.runtime import Runtime
    from happyhorse.testing import serve_app_in_thread

    runtime = Runtime.open(Settings(data_dir=tmp_path, signing_secret="s"))
    account = create_account(runtime.db, "flaky")
    grant_credits(runtime.db, account.id, Decimal("100"))  # every submit holds its price
    key = create_key(runtime.db, account.id).key
    front = FlakyFront(create_app(runtime))
    try:
        with serve_app_in_thread(front) as base_url:
            yield base_url, key, front
    finally:
        runtime.close()


def test_a_real_loopback_server_answering_500_429_then_202_gets_one_job(flaky_server, monkeypatch):
    base_url, key, front = flaky_server
    slept: list[float] = []
    monkeypatch.setattr(_base_client, "sleep", lambda seconds: (slept.append(seconds), time.sleep(seconds)))
    with happyhorse.Client(api_key=key, base_url=base_url) as client:
        job = client.videos.generate(prompt="third time lucky", duration=3)
        assert [j.job_id for j in client.jobs.list()] == [job.job_id]
    assert len(front.keys) == 3 and len(set(front.keys)) == 1 and front.keys[0]
    assert 0.375 <= slept[0] <= 0.5 and slept[1] == 1.0
