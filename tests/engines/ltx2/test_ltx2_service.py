"""The ltx2 engine through the real worker and API: submit, wait, download, probe the MP4."""

from __future__ import annotations

import base64
import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from happyhorse.media.probe import probe
from happyhorse.rules import RULES
from happyhorse.settings import Settings
from happyhorse.testing import running_service

from .conftest import TINY_OPTIONS, need_diffusion

AAC_FRAME = 1024 / 48000


@pytest.fixture(scope="module")
def api(tiny_weights, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-ltx2"), signing_secret="s",
                        engine_options={"weights": tiny_weights, **TINY_OPTIONS})
    with running_service(settings, engine_name="ltx2") as live:
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=60) as client:
            yield client


def data_uri(width: int, height: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (height // 10, width // 10, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((width, height)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def run(client: httpx.Client, **body) -> dict:
    response = client.post("/v1/videos/generations", json=body)
    assert response.status_code == 202, response.text
    return wait(client, response.json()["job_id"])


def wait(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def check_mp4(client: httpx.Client, job: dict, tmp_path, width: int, height: int, duration: int) -> None:
    assert job["status"] == "completed", job
    path = tmp_path / "out.mp4"
    path.write_bytes(client.get(job["result"]["outputs"][0]["url"]).content)
    info = probe(path)
    assert (info.width, info.height) == (width, height)
    assert info.num_frames == duration * 24 and info.fps == 24
    assert info.has_audio and info.audio_sample_rate == 48000 and info.audio_channels == 2
    assert abs(info.audio_duration - duration) <= AAC_FRAME


def test_models_says_ltx2_serves_the_model(api):
    engine = api.get("/v1/models").json()["data"][0]["engine"]
    assert engine["name"] == "ltx2" and engine["neural"] is True and "LTX-2" in engine["description"]


def test_t2v(api, tmp_path):
    job = run(api, prompt="a horse gallops along the beach", duration=3, seed=7)
    assert job["engine"] == "ltx2"
    check_mp4(api, job, tmp_path, 1280, 720, 3)


def test_t2v_portrait(api, tmp_path):
    job = run(api, prompt="rain on a window", aspect_ratio="9:16", duration=3, seed=1)
    check_mp4(api, job, tmp_path, 720, 1280, 3)


def test_i2v_keeps_the_source_aspect(api, tmp_path):
    job = run(api, prompt="slow push-in", image=data_uri(400, 600, seed=2), duration=4, seed=3)
    check_mp4(api, job, tmp_path, *RULES.frame_size(RULES.nearest_aspect_ratio(400, 600), "720p"), 4)


@pytest.mark.parametrize("count", [1, 9])
def test_r2v(api, tmp_path, count):
    images = [data_uri(320, 320, seed=10 + i) for i in range(count)]
    job = run(api, prompt=f"character1 waves at character{count}", image=images, duration=3, seed=4)
    check_mp4(api, job, tmp_path, 1280, 720, 3)


def test_cancel_during_denoising_skips_decoding(tiny_weights, tmp_path, monkeypatch):
    need_diffusion()
    from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel

    # Slow steps, so the cancel lands mid-loop; count what the VAE decodes.
    forward, decode, decodes = LTX2VideoTransformer3DModel.forward, AutoencoderKLLTX2Video.decode, []

    def slow_forward(self, *args, **kwargs):
        time.sleep(0.2)
        return forward(self, *args, **kwargs)

    def counting_decode(self, *args, **kwargs):
        decodes.append(1)
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(LTX2VideoTransformer3DModel, "forward", slow_forward)
    monkeypatch.setattr(AutoencoderKLLTX2Video, "decode", counting_decode)
    settings = Settings(data_dir=tmp_path / "data", signing_secret="s",
                        engine_options={"weights": tiny_weights, **TINY_OPTIONS, "steps": 50})
    with running_service(settings, engine_name="ltx2") as live:
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=60) as client:
            job_id = client.post("/v1/videos/generations", json={"prompt": "a long one", "duration": 3}).json()["job_id"]
            deadline = time.monotonic() + 60
            while (job := client.get(f"/v1/jobs/{job_id}").json())["progress"] < 5:
                assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
                time.sleep(0.05)
            assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
            job = wait(client, job_id)
    assert job["status"] == "cancelled", job
    assert job["progress"] < 90  # stopped well before the last of its 50 steps
    assert decodes == []
