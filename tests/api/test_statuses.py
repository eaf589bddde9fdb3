"""Each status of SPEC §6 that this issue covers, with its code and param; and the job endpoints."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from happyhorse.accounts import create_key, get_account_by_name, revoke_key

from .conftest import assert_error


def test_missing_malformed_unknown_and_revoked_keys(service):
    url = f"{service.base_url}/v1/jobs"
    assert_error(httpx.get(url), 401, "missing_api_key", None)
    assert_error(httpx.get(url, headers={"Authorization": "Basic abc"}), 401, "malformed_authorization", None)
    assert_error(httpx.get(url, headers={"Authorization": "Bearer"}), 401, "malformed_authorization", None)
    assert_error(httpx.get(url, headers={"Authorization": "Bearer hh_live_nope"}), 401, "invalid_api_key", None)
    account = get_account_by_name(service.runtime.db, "tester")
    key = create_key(service.runtime.db, account.id).key
    assert httpx.get(url, headers=service.headers(key)).status_code == 200
    revoke_key(service.runtime.db, key)
    assert_error(httpx.get(url, headers=service.headers(key)), 401, "api_key_revoked", None)
    for path in ("/v1/models", "/v1/uploads"):
        assert httpx.request("GET" if path == "/v1/models" else "POST", service.base_url + path).status_code == 401


def test_keys_are_stored_only_as_hashes(service):
    from sqlalchemy import select

    from happyhorse.db.schema import api_keys

    with service.runtime.db.connect() as conn:
        stored = [tuple(row) for row in conn.execute(select(api_keys.c.prefix, api_keys.c.key_hash))]
    assert all(service.api_key not in " ".join(map(str, row)) for row in stored)
    assert any(service.api_key.startswith(prefix) for prefix, _ in stored)


def test_another_accounts_job_and_upload_are_404(api, service):
    job = api.post("/v1/videos/generations", json={"prompt": "mine"}).json()
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400)).save(buffer, "PNG")
    upload = api.post("/v1/uploads", files={"file": ("a.png", buffer.getvalue(), "image/png")}).json()
    other = {"Authorization": f"Bearer {service.new_account_key('intruder')}"}
    assert_error(api.get(f"/v1/jobs/{job['job_id']}", headers=other), 404, "job_not_found", "job_id")
    assert_error(api.post(f"/v1/jobs/{job['job_id']}/cancel", headers=other), 404, "job_not_found", "job_id")
    assert_error(api.get(f"/v1/jobs/{job['job_id']}/content", headers=other), 404, "job_not_found", "job_id")
    assert_error(api.get(f"/v1/uploads/{upload['upload_id']}", headers=other), 404, "upload_not_found", "upload_id")
    assert_error(api.post("/v1/videos/generations", json={"prompt": "x", "image": upload["upload_id"]}, headers=other),
                 400, "upload_not_found", "image")
    assert all(j["job_id"] != job["job_id"] for j in api.get("/v1/jobs", headers=other).json()["data"])
    assert_error(api.get("/v1/jobs/job_doesnotexist"), 404, "job_not_found", "job_id")


def test_cancel_a_queued_job_then_409(api):
    job = api.post("/v1/videos/generations", json={"prompt": "cancel me"}).json()
    cancelled = api.post(f"/v1/jobs/{job['job_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["queue_position"] is None
    assert_error(api.post(f"/v1/jobs/{job['job_id']}/cancel"), 409, "job_not_cancellable", None)
    assert_error(api.get(f"/v1/jobs/{job['job_id']}/content"), 409, "job_not_completed", "job_id")


def test_body_over_the_cap_is_413(api, service):
    limit = service.runtime.settings.max_body_bytes
    response = api.post("/v1/videos/generations", content=b"{" + b" " * limit + b"}",
                        headers={"content-type": "application/json"})
    assert_error(response, 413, "body_too_large", None)


def test_list_paginates_newest_first(service):
    key = service.new_account_key("pager")
    with httpx.Client(base_url=service.base_url, headers=service.headers(key)) as api:
        ids = [api.post("/v1/videos/generations", json={"prompt": f"p{i}"}).json()["job_id"] for i in range(7)]
        seen, after = [], None
        while True:
            page = api.get("/v1/jobs", params={"limit": 3, **({"after": after} if after else {})}).json()
            assert page["object"] == "list" and len(page["data"]) <= 3
            seen += [job["job_id"] for job in page["data"]]
            if not page["has_more"]:
                break
            after = page["last_id"]
        assert seen == list(reversed(ids))
        assert_error(api.get("/v1/jobs", params={"limit": 101}), 400, "invalid_parameter", "limit")
        assert_error(api.get("/v1/jobs", params={"limit": 0}), 400, "invalid_parameter", "limit")


def test_queue_positions_count_up(api):
    first = api.post("/v1/videos/generations", json={"prompt": "a"}).json()
    second = api.post("/v1/videos/generations", json={"prompt": "b"}).json()
    assert second["queue_position"] == first["queue_position"] + 1
    assert api.get(f"/v1/jobs/{second['job_id']}").json()["queue_position"] == second["queue_position"]


def test_models_healthz_openapi_docs(api):
    models = api.get("/v1/models").json()
    card = models["data"][0]
    assert card["id"] == "happyhorse-1-1" and card["engine"]["name"] == "preview" and card["engine"]["neural"] is False
    assert card["pricing"]["per_second"] == {"720p": "0.14", "1080p": "0.18"}
    assert api.get("/v1/models/HappyHorse-1.1").json()["id"] == "happyhorse-1-1"
    assert_error(api.get("/v1/models/other"), 404, "model_not_found", "model_id")
    assert api.get("/healthz").json()["status"] == "ok"
    spec = api.get("/openapi.json").json()
    assert "/v1/videos/generations" in spec["paths"] and "/v1/jobs/{job_id}/cancel" in spec["paths"]
    assert api.get("/docs").status_code == 200
    assert_error(api.get("/v1/nothing"), 404, "route_not_found", None)


@pytest.mark.parametrize(("data", "code"), [(b"x" * 50, "image_format_unsupported"),
                                          (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image_unreadable")])
def test_uploads_rules(api, data, code):
    assert_error(api.post("/v1/uploads", files={"file": ("a.png", data, "image/png")}), 400, code, "file")
    assert_error(api.post("/v1/uploads", files={"other": ("a.png", data, "image/png")}), 400, "unknown_field", "other")


def test_upload_then_use(api):
    buffer = io.BytesIO()
    Image.new("RGB", (640, 360)).save(buffer, "JPEG")
    upload = api.post("/v1/uploads", files={"file": ("a.jpg", buffer.getvalue(), "image/jpeg")})
    assert upload.status_code == 201
    body = upload.json()
    assert body["upload_id"].startswith("upload_") and (body["width"], body["height"]) == (640, 360)
    assert body["content_type"] == "image/jpeg"
    job = api.post("/v1/videos/generations", json={"prompt": "x", "image": body["upload_id"]}).json()
    assert job["request"]["mode"] == "i2v" and job["request"]["aspect_ratio"] == "16:9"
    other = io.BytesIO()
    Image.new("RGB", (640, 360), "white").save(other, "JPEG")
    raw = api.post("/v1/uploads", content=other.getvalue(), headers={"content-type": "image/jpeg"})
    assert raw.status_code == 201


def test_database_unavailable_is_503_with_retry_after(api, service, monkeypatch):
    """A database that is away answers 503 + Retry-After in the envelope, never a bare 500.

    (The real outage — PostgreSQL restarted under load — is the chaos suite's; here
    the queue raises what SQLAlchemy raises when the server has gone.)"""
    from sqlalchemy.exc import OperationalError

    def database_gone(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    job_id = api.post("/v1/videos/generations", json={"prompt": "x"}).json()["job_id"]
    monkeypatch.setattr(service.runtime.queue, "request_cancel", database_gone)
    response = api.post(f"/v1/jobs/{job_id}/cancel")
    assert_error(response, 503, "database_unavailable", None)
    assert response.headers["retry-after"] == "2"


def test_database_unavailable_on_the_polling_path_is_503(api, service, monkeypatch):
    """The polling route reads through the driver directly; its errors are mapped too."""
    import sqlite3

    job_id = api.post("/v1/videos/generations", json={"prompt": "x"}).json()["job_id"]

    def database_gone(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(service.runtime.queue, "get_for_key", database_gone)
    assert_error(api.get(f"/v1/jobs/{job_id}"), 503, "database_unavailable", None)


def test_the_same_bytes_uploaded_again_give_the_same_upload(api):
    buffer = io.BytesIO()
    Image.new("RGB", (500, 400), "teal").save(buffer, "PNG")
    first = api.post("/v1/uploads", files={"file": ("a.png", buffer.getvalue(), "image/png")})
    again = api.post("/v1/uploads", content=buffer.getvalue(), headers={"content-type": "image/png"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = io.BytesIO()
    Image.new("RGB", (500, 400), "navy").save(other, "PNG")
    assert api.post("/v1/uploads", files={"file": ("b.png", other.getvalue(), "image/png")}).status_code == 201
