"""Image URLs through the real API: fetched at submit, bad ones refused (400) before any job exists,
good ones stored and run; and the URL jobs queued before that rule, which the worker still fetches.

The only server an image URL points at is a loopback ``http.server`` thread.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
from PIL import Image

from happyhorse.accounts import get_account_by_name
from happyhorse.billing.holds import take_hold
from happyhorse.ids import new_id
from happyhorse.jobs.request import JobInput
from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service, sample_request

from .conftest import wait_until


def png(width: int, height: int) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), np.full_like(x, 90)], -1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


class ImageServer:
    """Serves ``files`` on 127.0.0.1 and counts requests."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.hits = files, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.hits += 1
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    with ImageServer({"/portrait.png": png(400, 700), "/tiny.png": png(200, 200)}) as server:
        yield server


def _service(tmp_path_factory, **settings) -> Iterator[LiveService]:
    config = Settings(data_dir=tmp_path_factory.mktemp("hh-inputs"), signing_secret="test-secret", **settings)
    with running_service(config) as live:
        yield live


@pytest.fixture(scope="module")
def strict_service(tmp_path_factory) -> Iterator[LiveService]:
    """The default deployment: image URLs must be public."""
    yield from _service(tmp_path_factory)


@pytest.fixture(scope="module")
def local_service(tmp_path_factory) -> Iterator[LiveService]:
    """A deployment that may fetch from loopback (``allow_private_fetch``)."""
    yield from _service(tmp_path_factory, allow_private_fetch=True)


def _client(service: LiveService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, headers=service.headers(), timeout=30) as client:
        yield client


@pytest.fixture
def strict_api(strict_service) -> Iterator[httpx.Client]:
    yield from _client(strict_service)


@pytest.fixture
def local_api(local_service) -> Iterator[httpx.Client]:
    yield from _client(local_service)


def submit(client: httpx.Client, image_url: str) -> httpx.Response:
    return client.post("/v1/videos/generations", json={"prompt": "the horse walks", "image": image_url,
                                                         "duration": 3})


def wait_for_end(client: httpx.Client, job_id: str) -> dict:
    def ended() -> dict | None:
        job = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("completed", "failed", "cancelled") else None

    return wait_until(ended, timeout=60, interval=0.05)


def job_count(client: httpx.Client) -> int:
    return len(client.get("/v1/jobs", params={"limit": 100}).json()["data"])


def refused(client: httpx.Client, image_url: str) -> dict:
    """The submit's 400 error; no job was made."""
    before = job_count(client)
    response = submit(client, image_url)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_image", "image"), error
    assert job_count(client) == before
    return error


def test_a_loopback_url_is_refused_at_submit_without_being_fetched(strict_api, images):
    hits = images.hits
    message = refused(strict_api, f"{images.base}/portrait.png")["message"]

    assert "127.0.0.1" in message and "loopback" in message and "public internet" in message, message
    assert images.hits == hits


def test_a_portrait_image_url_gives_a_portrait_video(local_api, images):
    response = submit(local_api, f"{images.base}/portrait.png")
    assert response.status_code == 202, response.text
    job = wait_for_end(local_api, response.json()["job_id"])

    assert job["status"] == "completed", job
    assert job["request"]["mode"] == "i2v" and job["request"]["aspect_ratio"] == "9:16"
    [output] = job["result"]["outputs"]
    assert (output["width"], output["height"]) == (720, 1280)
    video = local_api.get(output["url"])
    assert video.status_code == 200 and len(video.content) == output["bytes"]


def test_a_too_small_image_url_is_refused_naming_the_rule(local_api, images):
    message = refused(local_api, f"{images.base}/tiny.png")["message"]

    assert "200x200" in message and "at least 300 px" in message, message


def test_a_url_that_answers_404_is_refused(local_api, images):
    assert "404" in refused(local_api, f"{images.base}/missing.png")["message"]


# -- jobs queued with URL inputs before URLs were fetched at submit --


def queue_url_job(service: LiveService, image_url: str) -> str:
    """A job as submits queued it before fetch-at-submit: its input is the URL itself."""
    account = get_account_by_name(service.runtime.db, "tester")
    job_id = new_id("job")
    with service.runtime.db.begin() as conn:
        service.runtime.queue.insert_job(
            conn, job_id=job_id, account_id=account.id, model="happyhorse-1-1",
            request=sample_request(mode="i2v", prompt="the horse walks", aspect_ratio=None, width=None, height=None,
                                   inputs=[JobInput("url", url=image_url)]),
        )
        take_hold(conn, account_id=account.id, job_id=job_id, resolution="720p", duration=3)
    return job_id


def test_a_queued_url_job_is_still_fetched_by_the_worker(local_service, images):
    with httpx.Client(base_url=local_service.base_url, headers=local_service.headers(), timeout=30) as client:
        job = wait_for_end(client, queue_url_job(local_service, f"{images.base}/portrait.png"))
        assert job["status"] == "completed", job
        assert (job["result"]["outputs"][0]["width"], job["result"]["outputs"][0]["height"]) == (720, 1280)
        failed = wait_for_end(client, queue_url_job(local_service, f"{images.base}/tiny.png"))
    assert failed["status"] == "failed" and failed["error"]["code"] == "invalid_image", failed
    assert "at least 300 px" in failed["error"]["message"]


def test_a_queued_loopback_url_job_fails_without_being_fetched(strict_service, images):
    hits = images.hits
    with httpx.Client(base_url=strict_service.base_url, headers=strict_service.headers(), timeout=30) as client:
        job = wait_for_end(client, queue_url_job(strict_service, f"{images.base}/portrait.png"))
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_image", job
    assert "loopback" in job["error"]["message"] and images.hits == hits
