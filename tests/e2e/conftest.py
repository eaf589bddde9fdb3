"""A live service (API + in-process worker + SQLite + local files) on a loopback port."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from happyhorse.settings import Settings
from happyhorse.testing import running_service


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-data"), signing_secret="test-secret")
    with running_service(settings) as live:
        yield live


@pytest.fixture
def api(service):
    with httpx.Client(base_url=service.base_url, headers=service.headers(), timeout=60) as client:
        yield client


def wait_for_job(client: httpx.Client, job_id: str, *, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def generate(client: httpx.Client, **body) -> dict:
    response = client.post("/v1/videos/generations", json=body)
    assert response.status_code == 202, response.text
    # Always "queued" on submit, even when the worker claims it a moment later.
    assert response.json()["status"] == "queued" and response.json()["queue_position"] >= 1
    return wait_for_job(client, response.json()["job_id"])


def download(client: httpx.Client, job: dict, directory: Path) -> Path:
    assert job["status"] == "completed", job
    response = client.get(job["result"]["outputs"][0]["url"])
    assert response.status_code == 200
    path = directory / f"{job['job_id']}.mp4"
    path.write_bytes(response.content)
    return path


def png_bytes(width: int, height: int, *, seed: int = 0, fmt: str = "PNG") -> bytes:
    """A test picture: a gradient with a few blocks, distinct per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 128)], -1)
    for _ in range(4):
        x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        pixels[y0 : y0 + height // 4, x0 : x0 + width // 4] = rng.integers(0, 255, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, fmt)
    return buffer.getvalue()
