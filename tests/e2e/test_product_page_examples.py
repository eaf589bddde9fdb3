"""The product page's own cURL and Python examples, run against `happyhorse serve`.

Only the base URL and the key are changed. The examples are kept verbatim
below; a test checks they still match the page in ../shared/seed when that
file is at hand.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from happyhorse.testing import free_port, wait_for_health

pytestmark = pytest.mark.slow

PAGE_BASE_URL = "https://api.empiriolabs.ai"

CURL_SUBMIT = """curl https://api.empiriolabs.ai/v1/videos/generations \\
  -H "Authorization: Bearer $EMPIRIOLABS_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "happyhorse-1-1",
    "prompt": "Describe what you want HappyHorse 1.1 to generate."
  }'"""

CURL_POLL = """curl https://api.empiriolabs.ai/v1/jobs/JOB_ID \\
  -H "Authorization: Bearer $EMPIRIOLABS_API_KEY\""""

PYTHON_EXAMPLE = '''import requests

response = requests.post(
    "https://api.empiriolabs.ai/v1/videos/generations",
    headers={"Authorization": "Bearer YOUR_EMPIRIOLABS_API_KEY"},
    json={
        "model": "happyhorse-1-1",
        "prompt": "Describe what you want HappyHorse 1.1 to generate.",
    },
)
job = response.json()

# Generation runs as an async job. Poll until it completes.
import time
while True:
    status = requests.get(
        f"https://api.empiriolabs.ai/v1/jobs/{job['job_id']}",
        headers={"Authorization": "Bearer YOUR_EMPIRIOLABS_API_KEY"},
    ).json()
    if status.get("status") in ("completed", "failed"):
        print(status)
        break
    time.sleep(5)'''

SEED_PAGE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "happyhorse-1.1-api-page.txt"


def test_examples_are_the_page_verbatim() -> None:
    if not SEED_PAGE.exists():
        pytest.skip(f"{SEED_PAGE} is not at hand")
    page = SEED_PAGE.read_text()
    for example in (CURL_SUBMIT, CURL_POLL, PYTHON_EXAMPLE):
        assert example in page


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`happyhorse serve` as a newcomer starts it: a subprocess with a fresh data dir."""
    data_dir = tmp_path_factory.mktemp("serve-data")
    port = free_port()
    exe = Path(sys.executable).parent / "happyhorse"
    log = open(data_dir / "serve.log", "w")
    process = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--data-dir", str(data_dir)], stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    if not wait_for_health(base_url, alive=lambda: process.poll() is None):
        raise RuntimeError((data_dir / "serve.log").read_text())
    key_file = data_dir / "dev-api-key"
    yield base_url, key_file.read_text().strip(), data_dir
    process.terminate()
    process.wait(30)
    log.close()


def test_serve_creates_dev_key_once_with_mode_0600(served) -> None:
    _, key, data_dir = served
    key_file = data_dir / "dev-api-key"
    assert key.startswith("hh_live_")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key in (data_dir / "serve.log").read_text()


def test_curl_examples_end_with_a_completed_job(served) -> None:
    base_url, key, _ = served
    env = {**os.environ, "EMPIRIOLABS_API_KEY": key}
    submitted = subprocess.run(
        ["bash", "-c", CURL_SUBMIT.replace(PAGE_BASE_URL, base_url)], env=env, capture_output=True, text=True, check=True
    )
    job = json.loads(submitted.stdout)
    assert job["status"] == "queued"
    poll = CURL_POLL.replace(PAGE_BASE_URL, base_url).replace("JOB_ID", job["job_id"])
    deadline = time.monotonic() + 120
    while True:
        status = json.loads(subprocess.run(["bash", "-c", poll], env=env, capture_output=True, text=True, check=True).stdout)
        if status["status"] in ("completed", "failed"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status["status"] == "completed", status
    _assert_output_is_mp4_with_audio(status, tmp_dir=Path(os.environ.get("TMPDIR", "/tmp")))


def test_python_example_ends_with_a_completed_job(served, tmp_path) -> None:
    base_url, key, _ = served
    code = PYTHON_EXAMPLE.replace(PAGE_BASE_URL, base_url).replace("YOUR_EMPIRIOLABS_API_KEY", key)
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=True)
    status = ast.literal_eval(ran.stdout.strip().splitlines()[-1])
    assert status["status"] == "completed", status
    _assert_output_is_mp4_with_audio(status, tmp_dir=tmp_path)


def _assert_output_is_mp4_with_audio(status: dict, tmp_dir: Path) -> None:
    from happyhorse.media.probe import probe

    output = status["result"]["outputs"][0]
    response = httpx.get(output["url"], timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    path = tmp_dir / f"{status['job_id']}.mp4"
    path.write_bytes(response.content)
    info = probe(path)
    assert (info.width, info.height, info.num_frames) == (1280, 720, 5 * 24)
    assert info.has_audio and info.audio_sample_rate == 48000 and info.audio_channels == 2
    assert abs(info.audio_duration - 5.0) <= 1024 / 48000
    assert output["has_audio"] is True and output["bytes"] == len(response.content)
