"""Limits across API replicas (PostgreSQL): the per-key rate limit and the per-key stream cap hold for
the deployment. Two apps on one database stand in for two `happyhorse api` processes; the whole shape
(real processes behind no balancer, clients spread across both) is tests/e2e/test_scale_out.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from happyhorse.api.shared_limits import HELD_SECONDS, SharedTokenBuckets
from happyhorse.app import create_app
from happyhorse.db.schema import stream_slots
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service, serve_app_in_thread

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url: str, tmp_path: Path):
    runtime = Runtime.open(Settings(data_dir=tmp_path / "data", database_url=postgres_url, signing_secret="s"))
    yield runtime.db
    runtime.close()


def drain(buckets: SharedTokenBuckets, name: bytes) -> int:
    """Take tokens for ``name`` until refused; how many were granted."""
    granted = 0
    while buckets.take_held(name) or buckets.lease(name) == 0.0:
        granted += 1
    return granted


def test_two_processes_share_one_bucket_and_never_grant_more_than_it_holds(engine) -> None:
    rate, burst = 0.001, 25  # no refill to speak of during the test
    first, second = SharedTokenBuckets(engine, rate, burst), SharedTokenBuckets(engine, rate, burst)
    assert first.batch == 1
    granted = [0, 0]
    for turn in range(200):  # alternate requests between the two processes
        which = turn % 2
        buckets = (first, second)[which]
        if buckets.take_held(b"k" * 32) or buckets.lease(b"k" * 32) == 0.0:
            granted[which] += 1
    assert sum(granted) == burst and min(granted) > 0
    assert drain(first, b"other key".ljust(32)) == burst  # another key has its own bucket


def test_batches_bound_the_overshoot_to_one_batch_per_process(engine) -> None:
    rate, burst = 50.0, 20
    processes = [SharedTokenBuckets(engine, rate, burst) for _ in range(3)]
    assert processes[0].batch == 5
    granted = sum(drain(p, b"k" * 32) for p in processes)
    # A full bucket, plus what refilled while draining (tens of ms at 50/s), never more.
    assert burst <= granted <= burst + processes[0].batch * len(processes)


def test_refused_with_the_wait_until_the_next_token(engine) -> None:
    buckets = SharedTokenBuckets(engine, 0.5, 1)
    assert buckets.lease(b"k" * 32) == 0.0
    wait = buckets.lease(b"k" * 32)
    assert 1.0 < wait <= 2.0


def test_held_tokens_lapse(engine, monkeypatch) -> None:
    now = [0.0]
    buckets = SharedTokenBuckets(engine, 100.0, 50, clock=lambda: now[0])
    assert buckets.lease(b"k" * 32) == 0.0 and buckets.take_held(b"k" * 32)
    now[0] += HELD_SECONDS + 0.1
    assert not buckets.take_held(b"k" * 32)


@pytest.fixture
def two_apis(postgres_url: str, tmp_path: Path) -> Iterator[tuple[LiveService, str, str]]:
    """Two API apps (no worker) on one PostgreSQL database: (the first, its URL, the second's URL)."""
    settings = dict(database_url=postgres_url, signing_secret="s", rate_limit_per_second=1.0, rate_limit_burst=10,
                    max_streams_per_key=2)
    with ExitStack() as stack:
        first = stack.enter_context(running_service(Settings(data_dir=tmp_path / "a", **settings), worker=False))
        runtime = Runtime.open(Settings(data_dir=tmp_path / "b", **settings), migrate=False)
        stack.callback(runtime.close)
        second_url = stack.enter_context(serve_app_in_thread(create_app(runtime)))
        yield first, first.base_url, second_url


def test_the_rate_limit_holds_across_two_api_processes(two_apis) -> None:
    live, *urls = two_apis
    key = live.new_account_key("rated")
    clients = [httpx.Client(base_url=url, headers=live.headers(key), timeout=10) for url in urls]
    try:
        answers = [clients[n % 2].get("/v1/account").status_code for n in range(30)]
    finally:
        for client in clients:
            client.close()
    # Burst 10 at 1/s: a few seconds of requests get 10 (+ one per second, + one batch of 1 per process).
    assert 10 <= answers.count(200) <= 10 + 3 + 2, answers
    assert set(answers) == {200, 429}


def test_the_stream_cap_holds_across_two_api_processes(two_apis) -> None:
    live, *urls = two_apis
    key = live.new_account_key("streamer")
    with httpx.Client(base_url=urls[0], headers=live.headers(key), timeout=30) as client:
        job_id = client.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3}).json()["job_id"]
    readies = [threading.Event() for _ in urls]
    closing = threading.Event()

    def hold_stream(url: str, ready: threading.Event) -> None:  # the job stays queued (no worker): it stays open
        with httpx.Client(base_url=url, headers=live.headers(key), timeout=30) as client:
            with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                assert stream.status_code == 200
                lines = stream.iter_lines()  # kept: a dropped iterator closes the stream
                next(lines)
                ready.set()
                closing.wait(30)

    holders = [threading.Thread(target=hold_stream, args=pair, daemon=True) for pair in zip(urls, readies)]
    for holder in holders:
        holder.start()
    try:
        assert all(ready.wait(10) for ready in readies)  # one stream open on each process
        for url in urls:  # a third stream, on either process: over the key's cap of 2
            with httpx.Client(base_url=url, headers=live.headers(key), timeout=10) as client:
                refused = client.get(f"/v1/jobs/{job_id}/events")
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "too_many_streams"
            assert "in this deployment" in refused.json()["error"]["message"]
    finally:
        closing.set()
        for holder in holders:
            holder.join(10)
    # Closed streams give their slots back to the deployment.
    def slots_held() -> int:
        with live.runtime.db.connect() as conn:
            return conn.execute(select(func.count()).select_from(stream_slots)).scalar_one()

    deadline = time.monotonic() + 10
    while slots_held():
        assert time.monotonic() < deadline, "slots not released"
        time.sleep(0.05)
