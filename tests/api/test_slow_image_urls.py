"""Hostile image URLs (finding 5): fetched at submit, so they cost their submitter, never the worker.

Every image URL points at a loopback ``http.server`` thread (the deployments
here allow private fetches); ``/slow.png`` trickles a byte every 50 ms and
never finishes, so its fetch always runs into the budget.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from happyhorse.db.schema import accounts, holds, jobs, uploads
from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service

from .conftest import assert_error

FETCH_BUDGET = 1.5  # seconds; the default is 20, a test only needs to see it run out


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


class ImageHost:
    """Loopback image server: ``/portrait.png``, ``/tiny.png``, ``/slow.png`` (trickles), anything else 404.
    ``slow_now`` holds the paths of the slow downloads in progress (a trickle outlives its fetcher
    until a write fails, so each test tags its slow URLs and waits for its own)."""

    def __init__(self) -> None:
        self.files = {"/portrait.png": png(400, 700), "/tiny.png": png(200, 200)}
        self.slow_now: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.startswith("/slow.png"):
                    outer.trickle(self)
                    return
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def trickle(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.slow_now.append(handler.path)
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "image/png")
            handler.send_header("Content-Length", "1000000")
            handler.end_headers()
            for _ in range(1200):  # a minute at most, whoever reads
                handler.wfile.write(b"\x89")
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the fetcher gave up and hung up
        finally:
            with self.lock:
                self.slow_now.remove(handler.path)

    def wait_for_slow(self, tag: str, count: int, timeout: float = 10) -> None:
        """Until ``count`` downloads of ``/slow.png?<tag>…`` are in progress."""
        deadline = time.monotonic() + timeout
        while len(mine := [p for p in list(self.slow_now) if p.startswith(f"/slow.png?{tag}")]) < count:
            assert time.monotonic() < deadline, f"only {len(mine)} slow downloads of {tag!r} started, wanted {count}"
            time.sleep(0.01)


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    host = ImageHost()
    host.thread.start()
    yield host
    host.server.shutdown()
    host.server.server_close()


def settings_for(data_dir, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(data_dir=data_dir, signing_secret="test-secret", allow_private_fetch=True,
                    fetch_timeout_seconds=FETCH_BUDGET, **overrides)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveService]:
    """API and one in-process worker (the preview engine), as ``happyhorse serve`` runs them."""
    with running_service(settings_for(tmp_path_factory.mktemp("hh-slow-urls"))) as service:
        yield service


def http(service: LiveService, key: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=service.base_url, headers=service.headers(key), timeout=60)


def submit(client: httpx.Client, key: str | None = None, **body: object) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/videos/generations", headers=headers,
                       json={"prompt": "the horse walks", "duration": 3, **body})


def seconds_to_complete(client: httpx.Client, limit: float = 120) -> float:
    """Submit a t2v job and wait for it; its time from submit to completed (at most ``limit``)."""
    started = time.monotonic()
    response = submit(client)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            assert job["status"] == "completed", job
            return time.monotonic() - started
        assert time.monotonic() - started < limit, f"job still {job['status']} after {limit:.1f} s"
        time.sleep(0.05)


def test_a_victims_job_is_not_delayed_by_slow_url_submits(live: LiveService, host: ImageHost) -> None:
    victim = http(live, live.new_account_key("victim"))
    attacker_key = live.new_account_key("attacker")
    alone = seconds_to_complete(victim)
    stop = threading.Event()

    def attack() -> list[int]:
        statuses: list[int] = []
        with http(live, attacker_key) as attacker:
            while not stop.is_set() and len(statuses) < 10:
                statuses.append(submit(attacker, image=f"{host.base}/slow.png?attack{len(statuses)}").status_code)
        return statuses

    allowed = 2 * alone + FETCH_BUDGET
    with ThreadPoolExecutor(4) as pool:
        attacks = [pool.submit(attack) for _ in range(4)]
        try:
            host.wait_for_slow("attack", 1)  # the attack is under way
            under_attack = seconds_to_complete(victim, limit=allowed)
        finally:
            stop.set()
        statuses = [status for attack_ in attacks for status in attack_.result()]
    victim.close()

    # Before: each slow URL was a queued job that held the only worker for the whole budget,
    # and the victim waited behind every one of them (dozens x 1.5 s).
    assert under_attack < allowed, (alone, under_attack)
    assert 202 not in statuses and set(statuses) <= {400, 429}, statuses
    with live.runtime.db.connect() as conn:
        attacker_jobs = select(func.count()).select_from(jobs.join(accounts)).where(accounts.c.name == "attacker")
        assert conn.execute(attacker_jobs).scalar_one() == 0


# The cap tests keep two slow fetches in flight while a third submit arrives: a longer budget
# keeps them in flight however slowly a loaded machine gets the third request through.
CAP_TEST_BUDGET = 3.0


def test_the_fetch_cap_per_account_answers_429_and_spares_other_accounts(
    live: LiveService, host: ImageHost, monkeypatch
) -> None:
    monkeypatch.setattr(live.runtime.settings, "fetch_timeout_seconds", CAP_TEST_BUDGET)
    key = live.new_account_key("greedy")
    with ThreadPoolExecutor(2) as pool, http(live, key) as greedy, http(live, live.new_account_key("other")) as other:
        slow = [pool.submit(submit, greedy, image=f"{host.base}/slow.png?greedy{n}") for n in range(2)]
        host.wait_for_slow("greedy", 2)
        third = submit(greedy, image=f"{host.base}/portrait.png")
        neighbour = submit(other, image=f"{host.base}/portrait.png")
        first_two = [future.result() for future in slow]

    error = assert_error(third, 429, "too_many_fetches", "image")
    assert int(third.headers["retry-after"]) > 0 and "2 requests" in error["message"], error
    assert neighbour.status_code == 202, neighbour.text
    for response in first_two:
        error = assert_error(response, 400, "invalid_image", "image")
        assert "in time" in error["message"], error


def test_the_fetch_cap_in_all_answers_429(live: LiveService, host: ImageHost, monkeypatch) -> None:
    monkeypatch.setattr(live.runtime.settings, "fetch_timeout_seconds", CAP_TEST_BUDGET)
    monkeypatch.setattr(live.runtime.settings, "max_url_fetches", 2)
    monkeypatch.setattr(live.runtime.settings, "max_url_fetches_per_account", 0)
    keys = [live.new_account_key(f"crowd-{n}") for n in range(3)]
    with ThreadPoolExecutor(2) as pool:
        clients = [http(live, key) for key in keys]
        slow = [pool.submit(submit, clients[n], image=f"{host.base}/slow.png?crowd{n}") for n in range(2)]
        host.wait_for_slow("crowd", 2)
        third = submit(clients[2], image=f"{host.base}/portrait.png")
        [future.result() for future in slow]
        for client in clients:
            client.close()
    error = assert_error(third, 429, "too_many_fetches", "image")
    assert "the server" in error["message"], error


def test_a_url_image_is_checked_and_stored_at_submit(live: LiveService, host: ImageHost) -> None:
    with http(live) as client:
        response = submit(client, image=f"{host.base}/portrait.png")
    assert response.status_code == 202, response.text
    job = response.json()
    # The image's size is known at submit: the i2v output follows it from the first answer on.
    assert job["request"]["mode"] == "i2v" and job["request"]["aspect_ratio"] == "9:16"
    [source] = live.runtime.queue.get(job["job_id"]).request.inputs
    assert source.kind == "upload"


# -- an unfetchable URL answers 400 and writes nothing, on both databases --


def count_rows(service: LiveService) -> dict[str, int]:
    with service.runtime.db.connect() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (jobs, holds, uploads)}
    counts["files"] = len(list(service.runtime.storage.list_objects("uploads/")))
    return counts


DATA_URI = "data:image/png;base64," + base64.b64encode(png(640, 480)).decode()


@pytest.mark.parametrize(
    ("image", "param", "says"),
    [
        ("/missing.png", "image", "404"),
        ("/slow.png", "image", "in time"),
        ("/tiny.png", "image", "at least 300 px"),
        ([DATA_URI, "/tiny.png"], "image[1]", "at least 300 px"),  # the data URI's file is not left behind
        (["/portrait.png", "/missing.png"], "image[1]", "404"),
    ],
)
def test_an_unfetchable_url_is_a_400_and_nothing_is_written(
    database_url: str, tmp_path, host: ImageHost, image: str | list[str], param: str, says: str
) -> None:
    def url(value: str) -> str:
        return value if value.startswith("data:") else host.base + value

    images = url(image) if isinstance(image, str) else [url(v) for v in image]
    with running_service(settings_for(tmp_path, database_url=database_url), worker=False) as service:
        before = count_rows(service)
        with http(service) as client:
            response = submit(client, "k1", image=images)
            error = assert_error(response, 400, "invalid_image", param)
            assert says in error["message"], error
            assert count_rows(service) == before
            # The refusal freed its idempotency key: the same key with a good image is accepted.
            retry = submit(client, "k1", image=url("/portrait.png"))
            assert retry.status_code == 202, retry.text
