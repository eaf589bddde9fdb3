"""Image URLs the worker fetches, through the real API: bad ones fail the job cleanly, good ones work.

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

from happyhorse.settings import Settings
from happyhorse.testing import running_service

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


def _client(tmp_path_factory, **settings) -> Iterator[httpx.Client]:
    config = Settings(data_dir=tmp_path_factory.mktemp("hh-inputs"), signing_secret="test-secret", **settings)
    with running_service(config) as live:
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
            yield client


@pytest.fixture(scope="module")
def strict_api(tmp_path_factory) -> Iterator[httpx.Client]:
    """The default deployment: image URLs must be public."""
    yield from _client(tmp_path_factory)


@pytest.fixture(scope="module")
def local_api(tmp_path_factory) -> Iterator[httpx.Client]:
    """A deployment that may fetch from loopback (``allow_private_fetch``)."""
    yield from _client(tmp_path_factory, allow_private_fetch=True)


def run(client: httpx.Client, image_url: str) -> dict:
    response = client.post("/v1/videos/generations", json={"prompt": "the horse walks", "image": image_url,
                                                            "duration": 3})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]

    def ended() -> dict | None:
        job = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("completed", "failed", "cancelled") else None

    return wait_until(ended, timeout=60, interval=0.05)


def test_a_loopback_url_fails_the_job_without_being_fetched(strict_api, images):
    hits = images.hits
    job = run(strict_api, f"{images.base}/portrait.png")

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "invalid_image"
    message = job["error"]["message"]
    assert "127.0.0.1" in message and "loopback" in message and "public internet" in message, message
    assert job["result"] is None
    assert images.hits == hits


def test_a_portrait_image_url_gives_a_portrait_video(local_api, images):
    job = run(local_api, f"{images.base}/portrait.png")

    assert job["status"] == "completed", job
    assert job["request"]["mode"] == "i2v" and job["request"]["aspect_ratio"] == "9:16"
    [output] = job["result"]["outputs"]
    assert (output["width"], output["height"]) == (720, 1280)
    video = local_api.get(output["url"])
    assert video.status_code == 200 and len(video.content) == output["bytes"]


def test_a_too_small_image_url_fails_naming_the_rule(local_api, images):
    job = run(local_api, f"{images.base}/tiny.png")

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "invalid_image"
    assert "200x200" in job["error"]["message"] and "at least 300 px" in job["error"]["message"], job["error"]


def test_a_url_that_answers_404_fails_the_job(local_api, images):
    job = run(local_api, f"{images.base}/missing.png")

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "invalid_image"
    assert "404" in job["error"]["message"], job["error"]
