"""Text that is not valid Unicode is a 400 naming the field, before anything is written (issue 10,
finding 4): lone surrogates in JSON (keys and values, anywhere), invalid UTF-8 in forms, on the
/v1 routes, on SQLite and PostgreSQL. And a job row holding such text (stored before this check)
is still shown, never a 500. The dashboard's side: tests/web/test_hostile_bodies.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from happyhorse.db.schema import holds, jobs
from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service

from .conftest import assert_error

JSON = {"Content-Type": "application/json"}
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[LiveService]:
    settings = Settings(data_dir=tmp_path, signing_secret="s", database_url=database_url)
    with running_service(settings, worker=False) as live:
        yield live


@pytest.fixture
def api(service: LiveService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, headers=service.headers(), timeout=30) as client:
        yield client


def _written(service: LiveService) -> tuple[int, int]:
    with service.runtime.db.connect() as conn:
        return (conn.execute(select(func.count()).select_from(jobs)).scalar_one(),
                conn.execute(select(func.count()).select_from(holds)).scalar_one())


# Raw JSON text: json.dumps would refuse to write most of these.
JSON_BODIES = {
    "prompt": rb'{"prompt": "horse \ud83d"}',
    "prompt_low_half": rb'{"prompt": "\udc00 horse"}',
    "unknown_key": rb'{"prompt": "horse", "\ud83d": 1}',
    "image_list_item": rb'{"prompt": "horse", "image": ["upload_01", "\udfff"]}',
    "nested_unknown": rb'{"prompt": "horse", "extra": {"deep": ["\ud800"]}}',
    "model": rb'{"prompt": "horse", "model": "happyhorse-1-1\ud83d"}',
}
JSON_PARAMS = {"prompt": "prompt", "prompt_low_half": "prompt", "unknown_key": "\\ud83d",
               "image_list_item": "image[1]", "nested_unknown": "extra.deep[0]", "model": "model"}


@pytest.mark.parametrize("case", list(JSON_BODIES))
def test_lone_surrogates_in_json_are_a_400_and_nothing_is_written(service: LiveService, api: httpx.Client,
                                                                  case: str) -> None:
    before = _written(service)
    response = api.post("/v1/videos/generations", content=JSON_BODIES[case], headers=JSON)
    error = assert_error(response, 400, "invalid_text", JSON_PARAMS[case])
    assert "Unicode" in error["message"]
    assert _written(service) == before
    assert api.get("/v1/jobs").status_code == 200
    assert api.get("/v1/account").json()["held_usd"] in ("0", "0.00")


def test_a_complete_surrogate_pair_is_fine(api: httpx.Client) -> None:
    response = api.post("/v1/videos/generations", content=rb'{"prompt": "horse \ud83d\udc0e", "duration": 3}',
                        headers=JSON)
    assert response.status_code == 202, response.text
    assert response.json()["request"]["prompt"] == "horse \U0001f40e"


def test_json_that_is_not_utf8_is_a_400(api: httpx.Client) -> None:
    response = api.post("/v1/videos/generations", content=b'{"prompt": "horse \xff"}', headers=JSON)
    assert_error(response, 400, "invalid_json", None)


FORM_BODIES = {
    "urlencoded_value": (URLENCODED, b"prompt=horse+%FF", "prompt"),
    "urlencoded_raw_byte": (URLENCODED, b"prompt=horse\xc3", "prompt"),
    "urlencoded_encoded_surrogate": (URLENCODED, b"prompt=horse%ED%A0%BD", "prompt"),
    "urlencoded_image": (URLENCODED, b"prompt=horse&image=%FFupload", "image"),
    "urlencoded_name": (URLENCODED, b"prompt=horse&pr%FFompt=x", "pr\\xffompt"),
    "multipart_value": ({"Content-Type": "multipart/form-data; boundary=b"},
                        b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhorse \xff\xfe\r\n--b--\r\n',
                        "prompt"),
    "multipart_name": ({"Content-Type": "multipart/form-data; boundary=b"},
                       b'--b\r\nContent-Disposition: form-data; name="pr\xe9"\r\n\r\nhorse\r\n--b--\r\n', "pr\\xe9"),
}


@pytest.mark.parametrize("case", list(FORM_BODIES))
def test_invalid_utf8_in_forms_is_a_400_and_nothing_is_written(service: LiveService, api: httpx.Client,
                                                                case: str) -> None:
    headers, body, param = FORM_BODIES[case]
    before = _written(service)
    response = api.post("/v1/videos/generations", content=body, headers=headers)
    error = assert_error(response, 400, "invalid_text", param)
    assert "UTF-8" in error["message"]
    assert _written(service) == before


def test_upload_form_with_an_invalid_field_name_is_a_400(api: httpx.Client) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="fi\xffle"; filename="a.png"\r\n\r\nxx\r\n--b--\r\n'
    response = api.post("/v1/uploads", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert_error(response, 400, "invalid_text", "fi\\xffle")


def test_a_stored_job_with_a_lone_surrogate_is_still_shown(service: LiveService, api: httpx.Client) -> None:
    """Rows written before the check (both databases stored them, JSON-escaped): presenting a job is total."""
    job = api.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3}).json()
    with service.runtime.db.begin() as conn:
        request = conn.execute(select(jobs.c.request).where(jobs.c.id == job["job_id"])).scalar_one()
        conn.execute(jobs.update().where(jobs.c.id == job["job_id"]).values(
            request={**request, "prompt": "horse \ud83d"}))
    shown = api.get(f"/v1/jobs/{job['job_id']}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["request"]["prompt"] == "horse \ufffd"
    listed = api.get("/v1/jobs")
    assert listed.status_code == 200 and listed.json()["data"][0]["request"]["prompt"] == "horse \ufffd"
