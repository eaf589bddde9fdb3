"""The per-key token bucket: unit behaviour, and 429 + Retry-After over HTTP on every /v1 route."""

from __future__ import annotations

import httpx
import pytest

from happyhorse.api.rate_limit import TokenBuckets
from happyhorse.settings import Settings
from happyhorse.testing import running_service


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take(b"k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take(b"k") == pytest.approx(0.5)  # one token comes back every 1/rate s
    assert buckets.take(b"other") == 0.0  # buckets are per key
    clock.now += 0.5
    assert buckets.take(b"k") == 0.0
    clock.now += 60  # refills to the burst, not beyond
    assert [buckets.take(b"k") for _ in range(4)][-1] > 0


def test_wait_time_looks_without_taking() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=2.0, burst=2, clock=clock)
    assert buckets.wait_time(b"new") == 0.0
    buckets.take(b"k"), buckets.take(b"k")
    assert buckets.wait_time(b"k") == pytest.approx(0.5) == buckets.wait_time(b"k")  # looking is free
    clock.now += 0.5
    assert buckets.wait_time(b"k") == 0.0 and buckets.take(b"k") == 0.0


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-rate"), signing_secret="test-secret",
                        rate_limit_per_second=0.5, rate_limit_burst=3)
    with running_service(settings, worker=False) as live:
        yield live


def _error(response: httpx.Response, code: str) -> dict:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("rate_limit_error", code, None)
    assert error["request_id"] == response.headers["x-request-id"]
    assert int(response.headers["retry-after"]) >= 1
    return error


def test_over_the_rate_is_a_429_with_retry_after_on_every_route(limited) -> None:
    with httpx.Client(base_url=limited.base_url, headers=limited.headers(), timeout=30) as client:
        job = client.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3})
        assert job.status_code in (200, 201, 202), job.text
        assert client.get(f"/v1/jobs/{job.json()['job_id']}").status_code == 200
        assert client.get("/v1/models").status_code == 200
        # The bucket (3) is empty now: the polling route, listing and submit are all refused.
        error = _error(client.get(f"/v1/jobs/{job.json()['job_id']}"), "rate_limit_exceeded")
        assert "0.5 requests per second" in error["message"]
        assert client.get("/v1/jobs").status_code == 429
        assert client.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3}).status_code == 429
        assert 1 <= int(client.get("/v1/account").headers["retry-after"]) <= 2

    # Another key has its own bucket; the health check is not limited.
    other = limited.new_account_key("other")
    with httpx.Client(base_url=limited.base_url, headers=limited.headers(other), timeout=30) as client:
        assert client.get("/v1/models").status_code == 200
        assert client.get("/healthz").status_code == 200
