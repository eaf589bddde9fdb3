"""Every rule of SPEC §3, one test each: the status, the stable code and the param."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from .conftest import assert_error

def submit(api, **body):
    return api.post("/v1/videos/generations", json=body)


def png_uri(width: int, height: int, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


# An image at hand (image URLs are fetched at submit, and tests reach nothing off this machine).
IMAGE = png_uri(640, 480)


def test_minimal_request_is_accepted_with_defaults(api):
    response = submit(api, prompt="a horse")
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['job_id']}"
    assert job["object"] == "video.generation.job" and job["status"] == "queued" and job["progress"] == 0
    assert job["queue_position"] >= 1 and job["model"] == "happyhorse-1-1"
    request = job["request"]
    assert request == {"mode": "t2v", "prompt": "a horse", "aspect_ratio": "16:9", "resolution": "720p",
                       "duration": 5, "seed": request["seed"], "watermark": False, "images": 0}
    assert 0 <= request["seed"] <= 2_147_483_647
    assert job["result"] is None and job["usage"] is None and job["error"] is None


@pytest.mark.parametrize("model", ["happyhorse-1-1", "HappyHorse-1.1", "happyhorse-1.1"])
def test_model_aliases(api, model):
    response = submit(api, model=model, prompt="x")
    assert response.status_code == 202 and response.json()["model"] == "happyhorse-1-1"


def test_unknown_model(api):
    assert_error(submit(api, model="sora-2", prompt="x"), 400, "model_not_found", "model")


def test_prompt_required_and_bounds(api):
    assert_error(submit(api), 400, "missing_required_field", "prompt")
    assert_error(submit(api, prompt="   "), 400, "prompt_empty", "prompt")
    assert_error(submit(api, prompt=42), 400, "invalid_type", "prompt")
    assert submit(api, prompt="x" * 2500).status_code == 202
    assert submit(api, prompt="  " + "x" * 2500 + "  ").status_code == 202  # counted after trimming
    error = assert_error(submit(api, prompt="x" * 2501), 400, "prompt_too_long", "prompt")
    assert "2501" in error["message"] and "2500" in error["message"]


@pytest.mark.parametrize(("duration", "code"), [(2, "duration_out_of_range"), (16, "duration_out_of_range"),
                                                (5.5, "duration_not_integer"), ("5", "invalid_type"), (True, "invalid_type")])
def test_duration_rejected(api, duration, code):
    assert_error(submit(api, prompt="x", duration=duration), 400, code, "duration")


@pytest.mark.parametrize("duration", [3, 15, 5, 5.0])
def test_duration_accepted(api, duration):
    response = submit(api, prompt="x", duration=duration)
    assert response.status_code == 202 and response.json()["request"]["duration"] == int(duration)


@pytest.mark.parametrize("seed", [0, 2_147_483_647])
def test_seed_bounds_accepted(api, seed):
    assert submit(api, prompt="x", seed=seed).json()["request"]["seed"] == seed


@pytest.mark.parametrize(("seed", "code"), [(-1, "seed_out_of_range"), (2_147_483_648, "seed_out_of_range"),
                                            (1.5, "invalid_type"), ("7", "invalid_type")])
def test_seed_rejected(api, seed, code):
    assert_error(submit(api, prompt="x", seed=seed), 400, code, "seed")


def test_enums(api):
    assert_error(submit(api, prompt="x", mode="v2v"), 400, "invalid_mode", "mode")
    assert_error(submit(api, prompt="x", aspect_ratio="21:9"), 400, "invalid_aspect_ratio", "aspect_ratio")
    assert_error(submit(api, prompt="x", resolution="4k"), 400, "invalid_resolution", "resolution")
    assert submit(api, prompt="x", resolution="1080P").json()["request"]["resolution"] == "1080p"
    assert_error(submit(api, prompt="x", watermark="yes"), 400, "invalid_type", "watermark")


def test_unknown_fields_are_named(api):
    error = assert_error(submit(api, prompt="x", negative_prompt="blur"), 400, "unknown_field", "negative_prompt")
    assert "negative_prompt" in error["message"]


def test_body_must_be_a_json_object(api):
    assert_error(api.post("/v1/videos/generations", content=b"{nope", headers={"content-type": "application/json"}),
                 400, "invalid_json", None)
    assert_error(api.post("/v1/videos/generations", json=["prompt"]), 400, "invalid_body", None)
    assert_error(api.post("/v1/videos/generations", content=b"x", headers={"content-type": "text/plain"}),
                 400, "unsupported_content_type", None)


def test_auto_mode_resolution(api):
    assert submit(api, prompt="x", image=IMAGE).json()["request"]["mode"] == "i2v"
    assert submit(api, prompt="character1 waves", image=IMAGE).json()["request"]["mode"] == "r2v"
    assert submit(api, prompt="x", image=[IMAGE, IMAGE]).json()["request"]["mode"] == "r2v"


def test_explicit_mode_must_fit_the_images(api):
    assert_error(submit(api, prompt="x", mode="t2v", image=IMAGE), 400, "mode_image_mismatch", "mode")
    assert_error(submit(api, prompt="x", mode="i2v"), 400, "mode_image_mismatch", "mode")
    assert_error(submit(api, prompt="x", mode="i2v", image=[IMAGE, IMAGE]), 400, "mode_image_mismatch", "image")
    assert_error(submit(api, prompt="x", mode="r2v"), 400, "mode_image_mismatch", "image")


def test_nine_images_ok_ten_rejected(api):
    assert submit(api, prompt="character9 dances", image=[IMAGE] * 9).status_code == 202
    assert_error(submit(api, prompt="x", image=[IMAGE] * 10), 400, "too_many_images", "image")


def test_character_beyond_the_images(api):
    assert submit(api, prompt="character2 and character1", image=[IMAGE, IMAGE]).status_code == 202
    error = assert_error(submit(api, prompt="character3 runs", image=[IMAGE, IMAGE]), 400,
                         "character_reference_out_of_range", "prompt")
    assert "character3" in error["message"]


def test_image_references(api):
    assert_error(submit(api, prompt="x", image="ftp://a/b.png"), 400, "invalid_image_reference", "image")
    assert_error(submit(api, prompt="x", image=[IMAGE, 5]), 400, "invalid_type", "image[1]")
    assert_error(submit(api, prompt="x", image={"url": IMAGE}), 400, "invalid_type", "image")
    assert_error(submit(api, prompt="x", image="upload_01jd0000000000000000000000"), 400, "upload_not_found", "image")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP"])
def test_image_formats_accepted(api, fmt):
    response = submit(api, prompt="x", image=png_uri(400, 400, fmt))
    assert response.status_code == 202, response.text
    assert response.json()["request"]["aspect_ratio"] == "1:1"


def test_image_rules_checked_at_submit(api):
    assert_error(submit(api, prompt="x", image=png_uri(299, 400)), 400, "image_too_small", "image")
    assert_error(submit(api, prompt="x", image=png_uri(1000, 399)), 400, "image_aspect_ratio_out_of_range", "image")
    assert submit(api, prompt="x", image=png_uri(1000, 400)).status_code == 202  # exactly 2.5:1
    gif = "data:image/gif;base64," + base64.b64encode(_gif()).decode()
    assert_error(submit(api, prompt="x", image=[IMAGE, gif]), 400, "image_format_unsupported", "image[1]")
    assert_error(submit(api, prompt="x", image="data:image/png;base64,@@@"), 400, "invalid_data_uri", "image")


def test_image_over_ten_megabytes_is_413(api):
    big = "data:image/png;base64," + "A" * (14 * 1024 * 1024)
    assert_error(submit(api, prompt="x", image=big), 413, "image_too_large", "image")


def test_multipart_parts_count_as_images(api):
    files = [("image", (f"{i}.png", base64.b64decode(png_uri(320, 320).split(",")[1]), "image/png")) for i in range(2)]
    response = api.post("/v1/videos/generations", data={"prompt": "character2 smiles", "duration": "4"}, files=files)
    assert response.status_code == 202, response.text
    assert response.json()["request"]["mode"] == "r2v" and response.json()["request"]["duration"] == 4
    response = api.post("/v1/videos/generations", data={"prompt": "x", "style": "noir"}, files=files[:1])
    assert_error(response, 400, "unknown_field", "style")
    ten = files * 5
    assert_error(api.post("/v1/videos/generations", data={"prompt": "x"}, files=ten), 400, "too_many_images", "image")


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400)).save(buffer, "GIF")
    return buffer.getvalue()
