"""End to end through a real server: submit, wait, download, decode the MP4 back."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from happyhorse.media.probe import probe, read_audio, read_frames
from happyhorse.rules import RULES

from .conftest import download, generate, png_bytes, wait_for_job

pytestmark = pytest.mark.slow

AAC_FRAME = 1024 / 48000


def _assert_video(path, width, height, duration):
    info = probe(path)
    assert (info.width, info.height) == (width, height)
    assert info.num_frames == duration * 24 and info.fps == 24
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p" and info.faststart
    assert info.has_audio and info.audio_codec == "aac"
    assert info.audio_sample_rate == 48000 and info.audio_channels == 2
    assert abs(info.audio_duration - duration) <= AAC_FRAME
    return info


@pytest.mark.parametrize(("aspect_ratio", "resolution"), sorted(RULES.frame_sizes))
def test_every_frame_size(api, tmp_path, aspect_ratio, resolution):
    job = generate(api, prompt="a horse on a beach at dawn", aspect_ratio=aspect_ratio,
                   resolution=resolution.upper() if aspect_ratio == "1:1" else resolution, duration=3, seed=7)
    width, height = RULES.frame_sizes[(aspect_ratio, resolution)]
    _assert_video(download(api, job, tmp_path), width, height, 3)
    output = job["result"]["outputs"][0]
    assert (output["width"], output["height"], output["fps"], output["duration"]) == (width, height, 24, 3.0)
    assert job["usage"]["billed_seconds"] == 3


def test_fifteen_seconds(api, tmp_path):
    job = generate(api, prompt="a long pan across a valley", duration=15, seed=3)
    _assert_video(download(api, job, tmp_path), 1280, 720, 15)
    assert job["usage"] == {"billed_seconds": 15, "unit_price_usd": "0.14", "cost_usd": "2.10"}


def test_i2v_from_a_portrait_image_is_portrait_and_starts_on_it(api, tmp_path):
    image = png_bytes(600, 1000, seed=1)
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    job = generate(api, prompt="the scene comes alive", image=uri, duration=3, seed=5)
    assert job["request"]["mode"] == "i2v" and job["request"]["aspect_ratio"] == "9:16"
    path = download(api, job, tmp_path)
    _assert_video(path, 720, 1280, 3)
    first = next(read_frames(path)).astype(np.int16)
    from PIL import Image
    import io

    source = Image.open(io.BytesIO(image)).convert("RGB")
    scale = max(720 / source.width, 1280 / source.height)
    resized = source.resize((round(source.width * scale), round(source.height * scale)), Image.BILINEAR)
    left, top = (resized.width - 720) // 2, (resized.height - 1280) // 2
    expected = np.asarray(resized.crop((left, top, left + 720, top + 1280))).astype(np.int16)
    assert np.abs(first - expected).mean() < 6  # H.264 at its default quality


def test_i2v_multipart_part_and_r2v_with_uploads(api, service, tmp_path):
    part = png_bytes(800, 600, seed=2)
    response = api.post(
        "/v1/videos/generations",
        data={"prompt": "a gentle push-in", "duration": "3", "seed": "9"},
        files=[("image", ("a.png", part, "image/png"))],
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(api, response.json()["job_id"])
    assert job["request"]["mode"] == "i2v" and job["request"]["aspect_ratio"] == "4:3"
    _assert_video(download(api, job, tmp_path), 1088, 832, 3)

    uploads = []
    for seed in range(3):
        up = api.post("/v1/uploads", files={"file": (f"{seed}.jpg", png_bytes(500, 500, seed=seed, fmt="JPEG"), "image/jpeg")})
        assert up.status_code == 201, up.text
        uploads.append(up.json()["upload_id"])
    job = generate(api, prompt="character1 meets character3 in a garden", image=uploads, aspect_ratio="1:1",
                   duration=3, seed=11)
    assert job["request"]["mode"] == "r2v" and job["request"]["images"] == 3
    _assert_video(download(api, job, tmp_path), 960, 960, 3)


def test_same_seed_same_clip_other_seed_other_clip(api, tmp_path):
    body = dict(prompt="fireflies over a pond", duration=3, seed=1234)
    a = download(api, generate(api, **body), tmp_path)
    b = download(api, generate(api, **body), tmp_path)
    c = download(api, generate(api, **{**body, "seed": 4321}), tmp_path)
    frames_a, frames_b, frames_c = (np.stack(list(read_frames(p))) for p in (a, b, c))
    assert np.array_equal(frames_a, frames_b)
    assert np.array_equal(read_audio(a)[0], read_audio(b)[0])
    assert np.abs(frames_a.astype(np.int16) - frames_c).mean() > 10
    audio_a, audio_c = read_audio(a)[0], read_audio(c)[0]
    assert not np.allclose(audio_a[:, : audio_c.shape[1]], audio_c[:, : audio_a.shape[1]], atol=1e-3)


def test_watermark_only_when_asked(api, tmp_path):
    from happyhorse.media.watermark import watermark_box

    body = dict(prompt="a quiet meadow", duration=3, seed=99)
    plain = np.stack(list(read_frames(download(api, generate(api, **body), tmp_path))))
    marked = np.stack(list(read_frames(download(api, generate(api, **body, watermark=True), tmp_path))))
    x0, y0, x1, y1 = watermark_box(1280, 720)
    inside = np.abs(plain[:, y0:y1, x0:x1].astype(np.int16) - marked[:, y0:y1, x0:x1]).mean()
    outside = np.abs(plain[:, : y0 - 16].astype(np.int16) - marked[:, : y0 - 16]).mean()
    assert inside > 8 and outside < 1.0


def test_content_redirects_the_owner_to_a_fresh_signed_url(api, service, tmp_path):
    job = generate(api, prompt="clouds", duration=3, seed=1)
    response = api.get(f"/v1/jobs/{job['job_id']}/content", follow_redirects=False)
    assert response.status_code == 307
    video = api.get(response.headers["location"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    ranged = api.get(response.headers["location"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.content == video.content[:100]
    poster = api.get(job["result"]["outputs"][0]["poster_url"])
    assert poster.status_code == 200 and poster.content[:3] == b"\xff\xd8\xff"
    other = service.new_account_key("content-other")
    assert api.get(f"/v1/jobs/{job['job_id']}/content", headers={"Authorization": f"Bearer {other}"}).status_code == 404


def test_events_stream_until_the_job_ends(api, service):
    import json

    job = api.post("/v1/videos/generations", json={"prompt": "streamed", "duration": 3}).json()
    events = []
    with api.stream("GET", f"/v1/jobs/{job['job_id']}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    assert events[-1]["status"] == "completed" and events[-1]["progress"] == 100
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress) and len(events) >= 3
    other = service.new_account_key("events-other")
    response = api.get(f"/v1/jobs/{job['job_id']}/events", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 404
