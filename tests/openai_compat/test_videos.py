"""``/v1/videos`` through the real ``openai`` package (SPEC §9): create, poll, list, download, remix,
delete, cancel. Only ``base_url`` and ``api_key`` differ from code written for OpenAI."""

from __future__ import annotations

import contextlib
import io

import httpx
import openai
import pytest
from PIL import Image

from happyhorse.media.probe import probe
from happyhorse.media.spritesheet import sheet_size

from .conftest import data_uri, png_bytes


def _done(client: openai.OpenAI, video_id: str):
    video = client.videos.poll(video_id)
    assert video.status == "completed", video
    return video


def test_t2v_create_and_poll_then_every_variant_decodes(client, tmp_path):
    video = client.videos.create_and_poll(prompt="a horse on a beach", seconds="3", size="960x960")
    assert video.object == "video" and video.status == "completed" and video.progress == 100
    assert video.seconds == "3" and video.size == "960x960" and video.model == "happyhorse-1-1"
    assert video.prompt == "a horse on a beach" and video.completed_at >= video.created_at
    extra = video.model_extra or {}
    assert isinstance(extra["seed"], int) and extra["usage"]["billed_seconds"] == 3

    path = tmp_path / "out.mp4"
    client.videos.download_content(video.id, variant="video").write_to_file(path)
    probed = probe(path)
    assert (probed.width, probed.height) == (960, 960)
    assert probed.num_frames == 3 * 24 and probed.has_audio

    thumbnail = Image.open(io.BytesIO(client.videos.download_content(video.id, variant="thumbnail").content))
    assert thumbnail.format == "JPEG" and thumbnail.size == (960, 960)

    sheet = Image.open(io.BytesIO(client.videos.download_content(video.id, variant="spritesheet").content))
    assert sheet.format == "JPEG" and sheet.size == sheet_size(960, 960) == (1280, 512)


def test_the_id_is_the_job_id_on_both_surfaces(client, service):
    video = client.videos.create(prompt="a horse", seconds="3", model="sora-2")
    assert video.status == "queued" and video.model == "happyhorse-1-1" and video.size == "1280x720"
    job = httpx.get(f"{service.base_url}/v1/jobs/{video.id}", headers=service.headers()).json()
    assert job["job_id"] == video.id and job["request"]["duration"] == 3
    _done(client, video.id)


def test_i2v_with_a_file_and_with_an_image_url(client, service):
    by_file = client.videos.create(prompt="the scene comes alive", seconds="3",
                                   input_reference=("still.png", png_bytes(), "image/png"))
    # openai 3.63's create() takes only a file for input_reference (a dict fails its own file
    # check), so the object form goes as an extra field: multipart flattens it to
    # input_reference[image_url], as the client sends nested fields.
    by_url = client.videos.create(prompt="the scene comes alive", seconds="3", size="1920x1080",
                                  extra_body={"input_reference": {"image_url": data_uri(png_bytes(seed=1))}})
    for video, size in ((by_file, "1280x720"), (by_url, "1920x1080")):
        done = _done(client, video.id)
        assert done.size == size
        job = httpx.get(f"{service.base_url}/v1/jobs/{video.id}", headers=service.headers()).json()
        assert job["request"]["mode"] == "i2v" and job["request"]["images"] == 1


def test_retrieve_answers_the_poll_interval(client):
    video = client.videos.create(prompt="a horse", seconds="3")
    response = client.videos.with_raw_response.retrieve(video.id)
    assert int(response.headers["openai-poll-after-ms"]) > 0
    assert response.parse().id == video.id
    listed = client.videos.with_raw_response.list(limit=1)
    assert int(listed.headers["openai-poll-after-ms"]) > 0
    _done(client, video.id)


def test_list_pages_with_after_and_order(client, service):
    key = service.new_account_key("lister")
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key=key, max_retries=0) as own:
        ids = [own.videos.create(prompt=f"horse {i}", seconds="3").id for i in range(5)]
        page = own.videos.list(limit=2)
        assert [v.id for v in page.data] == ids[::-1][:2] and page.has_more
        assert [v.id for v in page] == ids[::-1]  # iterating a page follows has_more and last_id
        oldest = own.videos.list(limit=3, order="asc")
        assert [v.id for v in oldest.data] == ids[:3]
        assert [v.id for v in own.videos.list(limit=3, order="asc", after=ids[2]).data] == ids[3:]
        raw = own.videos.with_raw_response.list(limit=2).http_response.json()
        assert raw["object"] == "list" and raw["first_id"] == ids[4] and raw["last_id"] == ids[3]
        for video_id in ids:
            own.videos.poll(video_id)


def test_remix_keeps_seed_settings_and_images_with_a_new_prompt(client, service):
    original = _done(client, client.videos.create(
        prompt="a horse", seconds="4", size="720x1280", extra_body={"seed": 77, "watermark": True}).id)
    remix = client.videos.remix(original.id, prompt="a zebra")
    assert remix.remixed_from_video_id == original.id and remix.prompt == "a zebra"
    assert remix.size == "720x1280" and remix.seconds == "4" and remix.model_extra["seed"] == 77
    done = _done(client, remix.id)
    assert done.remixed_from_video_id == original.id
    job = httpx.get(f"{service.base_url}/v1/jobs/{remix.id}", headers=service.headers()).json()
    assert job["request"]["watermark"] is True and job["request"]["seed"] == 77

    i2v = _done(client, client.videos.create(
        prompt="it moves", seconds="3", extra_body={"input_reference": {"image_url": data_uri(png_bytes(seed=3))}}).id)
    remixed = _done(client, client.videos.remix(i2v.id, prompt="it moves faster").id)
    job = httpx.get(f"{service.base_url}/v1/jobs/{remixed.id}", headers=service.headers()).json()
    assert job["request"]["mode"] == "i2v" and job["request"]["images"] == 1


def test_delete_then_not_found(client):
    video = _done(client, client.videos.create(prompt="a horse", seconds="3").id)
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


def test_cancel_through_client_post(service):
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key=service.api_key, max_retries=0) as client:
        # Several queued behind each other: the last is still queued when cancelled.
        videos = [client.videos.create(prompt=f"a long horse {i}", seconds="15") for i in range(3)]
        target = videos[-1]
        cancelled = client.post(f"/videos/{target.id}/cancel", cast_to=openai.types.Video)
        assert cancelled.id == target.id
        final = client.videos.poll(target.id)
        assert final.status == "cancelled"
        with pytest.raises(openai.ConflictError):
            client.post(f"/videos/{target.id}/cancel", cast_to=openai.types.Video)
        for video in videos[:-1]:  # leave the worker free for the other tests
            with contextlib.suppress(openai.ConflictError):
                client.post(f"/videos/{video.id}/cancel", cast_to=openai.types.Video)


def test_idempotency_key_returns_the_first_video(client):
    headers = {"Idempotency-Key": "openai-compat-1"}
    first = client.videos.create(prompt="a horse", seconds="3", extra_headers=headers)
    again = client.videos.with_raw_response.create(prompt="a horse", seconds="3", extra_headers=headers)
    assert again.parse().id == first.id and again.headers["Idempotent-Replayed"] == "true"
    _done(client, first.id)


def test_json_bodies_work_too(service):
    body = {"prompt": "a horse", "seconds": "3", "size": "832x1088",
            "input_reference": {"image_url": data_uri(png_bytes(400, 500))}}
    response = httpx.post(f"{service.base_url}/v1/videos", json=body, headers=service.headers())
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "video"
