"""Every rule of SPEC §3 holds on ``POST /v1/videos``: refusals arrive as the ``openai`` package's
exceptions, in the §6 envelope, naming the field as the caller sent it."""

from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import data_uri, png_bytes

TINY = data_uri(png_bytes(100, 100))
WIDE = data_uri(png_bytes(1200, 300))
CASES = [
    # (create kwargs, status, code, param)
    ({"prompt": "  "}, 400, "prompt_empty", "prompt"),
    ({"prompt": "x" * 2501}, 400, "prompt_too_long", "prompt"),
    ({"prompt": "a", "seconds": "2"}, 400, "duration_out_of_range", "seconds"),
    ({"prompt": "a", "seconds": "16"}, 400, "duration_out_of_range", "seconds"),
    ({"prompt": "a", "seconds": "4.5"}, 400, "invalid_seconds", "seconds"),
    ({"prompt": "a", "size": "1024x1792"}, 400, "invalid_size", "size"),
    ({"prompt": "a", "model": "gpt-video"}, 400, "model_not_found", "model"),
    ({"prompt": "a", "input_reference": {"image_url": "ftp://example.com/a.png"}}, 400,
     "invalid_image_reference", "input_reference"),
    ({"prompt": "a", "input_reference": {"image_url": TINY}}, 400, "image_too_small", "input_reference"),
    ({"prompt": "a", "input_reference": {"image_url": WIDE}}, 400, "image_aspect_ratio_out_of_range",
     "input_reference"),
    ({"prompt": "a", "input_reference": ("a.png", b"not an image", "image/png")}, 400, "image_format_unsupported",
     "input_reference"),
    ({"prompt": "a", "input_reference": {"image_url": data_uri(png_bytes())}, "extra_body": {"mode": "t2v"}}, 400,
     "mode_image_mismatch", "mode"),
    ({"prompt": "a", "extra_body": {"mode": "i2v"}}, 400, "mode_image_mismatch", "mode"),
    ({"prompt": "character2 runs", "extra_body": {"mode": "r2v", "image": [data_uri(png_bytes())]}}, 400,
     "character_reference_out_of_range", "prompt"),
    ({"prompt": "a", "extra_body": {"seed": -1}}, 400, "seed_out_of_range", "seed"),
    ({"prompt": "a", "extra_body": {"watermark": "maybe"}}, 400, "invalid_type", "watermark"),
    ({"prompt": "a", "extra_body": {"duration": 5}}, 400, "unknown_field", "duration"),
    ({"prompt": "a", "extra_body": {"colour": "red"}}, 400, "unknown_field", "colour"),
    ({"prompt": "a", "size": "1280x720", "extra_body": {"aspect_ratio": "9:16"}}, 400, "conflicting_fields", "size"),
    ({"prompt": "a", "extra_body": {"image": ["upload_" + "0" * 26]}}, 400, "upload_not_found", "image"),
]


@pytest.mark.parametrize(("kwargs", "status", "code", "param"), CASES, ids=[c[2] + "-" + str(c[3]) for c in CASES])
def test_rule_refused_through_openai_exceptions(client, kwargs, status, code, param):
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("input_reference"), dict):
        # openai 3.63's create() takes only a file for input_reference: the object form goes as an
        # extra field, which multipart flattens to input_reference[image_url].
        kwargs["extra_body"] = {**kwargs.get("extra_body", {}), "input_reference": kwargs.pop("input_reference")}
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(**kwargs)
    error = caught.value
    assert error.status_code == status
    assert error.code == code, error.body
    assert error.param == param, error.body
    assert error.response.headers["x-should-retry"] == "false"
    assert error.request_id and error.request_id.startswith("req_")


def test_insufficient_credits_is_a_402(service):
    key = service.new_account_key("poor", credits="0.10")
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key=key, max_retries=0) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            client.videos.create(prompt="a horse", seconds="3")
    assert caught.value.status_code == 402 and caught.value.code == "insufficient_credits"
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_a_bad_key_is_an_authentication_error(service):
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key="hh_nope", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            client.videos.list()


def test_unknown_video_is_not_found(client):
    for call in (lambda: client.videos.retrieve("job_" + "0" * 26), lambda: client.videos.retrieve("nope"),
                 lambda: client.videos.remix("job_" + "0" * 26, prompt="x")):
        with pytest.raises(openai.NotFoundError):
            call()


def test_content_of_an_unfinished_video_is_a_conflict(service):
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key=service.api_key, max_retries=0) as client:
        video = client.videos.create(prompt="a horse", seconds="15")
        try:
            with pytest.raises(openai.ConflictError):
                client.videos.download_content(video.id, variant="spritesheet")
        finally:
            try:
                client.post(f"/videos/{video.id}/cancel", cast_to=openai.types.Video)
            except openai.ConflictError:
                pass


def test_remix_refuses_a_bad_prompt_naming_prompt(client):
    video = client.videos.create(prompt="a horse", seconds="3")
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.remix(video.id, prompt=" ")
    assert caught.value.param == "prompt" and caught.value.code == "prompt_empty"
    client.videos.poll(video.id)


def test_unsupported_content_type_is_refused(service):
    response = httpx.post(f"{service.base_url}/v1/videos", content=b"x", headers={
        **service.headers(), "content-type": "text/plain"})
    assert response.status_code == 400 and response.headers["x-should-retry"] == "false"
    assert response.json()["error"]["code"] == "unsupported_content_type"
