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


# -- finding 7: the bucket is the key's, whatever the header's spelling -------------------------------

def _spellings(key: str, count: int) -> list[str]:
    """``count`` spellings of one ``Bearer`` header that authentication accepts: the scheme in any
    case, one to three spaces before the key."""
    spellings = []
    for n in range(count):
        scheme = "".join(c.upper() if n >> i & 1 else c for i, c in enumerate("bearer"))
        spellings.append(f"{scheme}{' ' * (1 + n % 3)}{key}")
    assert len(set(spellings)) == count
    return spellings


def test_spellings_of_one_key_share_its_bucket(tmp_path) -> None:
    # Rate ~0: only the burst (5) is ever granted, whatever the spelling.
    settings = Settings(data_dir=tmp_path, signing_secret="test-secret", rate_limit_per_second=0.001,
                        rate_limit_burst=5)
    with running_service(settings, worker=False) as live:
        with httpx.Client(base_url=live.base_url, timeout=30) as client:
            statuses = [client.get("/v1/account", headers={"Authorization": spelling}).status_code
                        for spelling in _spellings(live.api_key, 17)]
    assert statuses == [200] * 5 + [429] * 12, statuses


def test_the_bucket_name_is_the_key_as_authentication_parses_it() -> None:
    from happyhorse.api.rate_limit import bucket_name
    from happyhorse.accounts.key_format import new_key

    key = new_key()
    names = {bucket_name(spelling.encode()) for spelling in [f"Bearer {key}", f"  bEaReR   {key}  ", *_spellings(key, 9)]}
    assert len(names) == 1 and None not in names
    assert bucket_name(f"Bearer {new_key()}".encode()) not in names  # another key, another bucket
    # Values authentication refuses by their shape (401 at no database cost) take no bucket.
    for refused in (b"", b"Basic abc", f"Bearer {key[:-1]}x".encode(), f"Bearer {key} {key}".encode(), b"\xff\xfe"):
        assert bucket_name(refused) is None, refused


def test_a_flood_of_new_names_stays_bounded_and_does_not_refill_a_busy_key() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=0.001, burst=2, clock=clock, max_buckets=100)
    assert buckets.take(b"busy") == 0.0 and buckets.take(b"busy") == 0.0
    for n in range(1000):  # made-up keys, one request each, while the busy key keeps asking
        buckets.take(b"fake-%d" % n)
        if n % 50 == 0:
            clock.now += 0.01
            assert buckets.take(b"busy") > 0, n  # still empty: the flood gave it no fresh burst
        assert len(buckets) <= 100
