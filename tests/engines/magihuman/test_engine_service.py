"""The magihuman engine through the real worker and API: submit, wait, download, probe the MP4."""

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

from .conftest import TINY_OPTIONS

AAC_FRAME = 1024 / 48000


@pytest.fixture(scope="module")
def api(magi_weights, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-magihuman"), signing_secret="s",
                        engine_options={"weights": magi_weights, **TINY_OPTIONS})
    with running_service(settings, engine_name="magihuman") as live:
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=60) as client:
            yield client


def data_uri(width: int, height: int, seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 255, (height // 10, width // 10, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((width, height)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def wait(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def run(client: httpx.Client, **body) -> dict:
    response = client.post("/v1/videos/generations", json=body)
    assert response.status_code == 202, response.text
    return wait(client, response.json()["job_id"])


def fetch(client: httpx.Client, job: dict, tmp_path, name: str):
    assert job["status"] == "completed", job
    path = tmp_path / name
    path.write_bytes(client.get(job["result"]["outputs"][0]["url"]).content)
    return path


def check_mp4(path, width: int, height: int, duration: int) -> None:
    info = probe(path)
    assert (info.width, info.height) == (width, height)
    assert info.num_frames == duration * 24 and info.fps == 24
    assert info.has_audio and info.audio_sample_rate == 48000 and info.audio_channels == 2
    assert abs(info.audio_duration - duration) <= AAC_FRAME


def test_models_names_the_engine(api):
    engine = api.get("/v1/models").json()["data"][0]["engine"]
    assert engine["name"] == "magihuman" and engine["neural"] is True and "MagiHuman" in engine["description"]


def test_t2v_and_same_seed_same_video(api, tmp_path):
    first = run(api, prompt="a horse runs on the beach", duration=3, seed=5)
    assert first["engine"] == "magihuman"
    check_mp4(fetch(api, first, tmp_path, "a.mp4"), 1280, 720, 3)
    again = run(api, prompt="a horse runs on the beach", duration=3, seed=5)
    assert fetch(api, again, tmp_path, "b.mp4").read_bytes() == (tmp_path / "a.mp4").read_bytes()


def test_i2v_keeps_the_source_aspect(api, tmp_path):
    job = run(api, prompt="slow push in", image=data_uri(400, 600, seed=2), duration=3, seed=3)
    width, height = RULES.frame_size(RULES.nearest_aspect_ratio(400, 600), "720p")
    check_mp4(fetch(api, job, tmp_path, "i2v.mp4"), width, height, 3)


def test_cancel_during_denoising_skips_decoding(magi_weights, tmp_path, monkeypatch):
    from happyhorse.engines.magihuman.dit import MagiDiT
    from happyhorse.engines.magihuman.vae import AudioVAE, VideoVAE

    forward, decodes = MagiDiT.forward, []

    def slow_forward(self, *args, **kwargs):
        time.sleep(0.2)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(MagiDiT, "forward", slow_forward)
    monkeypatch.setattr(VideoVAE, "frames", lambda *a, **k: decodes.append("video"))
    monkeypatch.setattr(AudioVAE, "decode", lambda *a, **k: decodes.append("audio"))
    settings = Settings(data_dir=tmp_path / "data", signing_secret="s",
                        engine_options={"weights": magi_weights, **TINY_OPTIONS, "steps": 50})
    with running_service(settings, engine_name="magihuman") as live:
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=60) as client:
            job_id = client.post("/v1/videos/generations", json={"prompt": "a long one", "duration": 3}).json()["job_id"]
            deadline = time.monotonic() + 60
            while (job := client.get(f"/v1/jobs/{job_id}").json())["progress"] < 5:
                assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
                time.sleep(0.05)
            assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
            job = wait(client, job_id)
    assert job["status"] == "cancelled", job
    assert job["progress"] < 90
    assert decodes == []
