"""Ids that cannot be ids are a 404 (or a 400 for ``after``), never a 500, on both databases.

Schemathesis found it on PostgreSQL: a NUL in ``/v1/jobs/{job_id}`` or ``?after=`` reached
the query, and PostgreSQL refuses NUL in text with an error (answered 500), where SQLite
just finds nothing.
"""

from __future__ import annotations

import httpx

from happyhorse.settings import Settings
from happyhorse.testing import running_service

from .conftest import assert_error


def test_malformed_ids_are_not_found_on_either_database(tmp_path, database_url):
    settings = Settings(data_dir=tmp_path, database_url=database_url, signing_secret="test-secret")
    with running_service(settings, worker=False) as live, httpx.Client(
        base_url=live.base_url, headers=live.headers(), timeout=30
    ) as api:
        for bad in ("job_%00x", "job_doesnotexist", "job_" + "A" * 26, "job_%C3%A9"):
            assert_error(api.get(f"/v1/jobs/{bad}"), 404, "job_not_found", "job_id")
            assert_error(api.post(f"/v1/jobs/{bad}/cancel"), 404, "job_not_found", "job_id")
            assert_error(api.get(f"/v1/jobs/{bad}/content"), 404, "job_not_found", "job_id")
            assert_error(api.get(f"/v1/jobs/{bad}/events"), 404, "job_not_found", "job_id")
        for bad in ("upload_%00", "upload_nope"):
            assert_error(api.get(f"/v1/uploads/{bad}"), 404, "upload_not_found", "upload_id")
        assert_error(api.get("/v1/jobs", params={"after": "job_\x00x"}), 400, "invalid_parameter", "after")
        assert_error(api.get("/v1/jobs", params={"after": "yesterday"}), 400, "invalid_parameter", "after")
        # A bad key is still a 401 first, whatever the id.
        assert_error(httpx.get(f"{live.base_url}/v1/jobs/job_%00x", headers=live.headers("hh_live_nope")), 401,
                     "invalid_api_key", None)
        # Well-formed ids and cursors still work.
        job = api.post("/v1/videos/generations", json={"prompt": "a real one"}).json()
        assert api.get(f"/v1/jobs/{job['job_id']}").json()["job_id"] == job["job_id"]
        assert api.get("/v1/jobs", params={"after": job["job_id"]}).json()["data"] == []
