"""The API on a loopback port without a worker: jobs stay queued, checks are fast."""

from __future__ import annotations

import httpx
import pytest

from happyhorse.settings import Settings
from happyhorse.testing import running_service


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-api"), signing_secret="test-secret")
    with running_service(settings, worker=False) as live:
        yield live


@pytest.fixture
def api(service):
    with httpx.Client(base_url=service.base_url, headers=service.headers(), timeout=30) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str, param: str | None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error
    assert error["message"] and error["type"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["request_id"].startswith("req_")
    return error
