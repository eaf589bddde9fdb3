"""API-level checks of key format and limits on the shared API service (no worker)."""

from __future__ import annotations

import httpx
import pytest

from happyhorse.accounts.key_format import is_well_formed

from .conftest import assert_error


@pytest.mark.parametrize("path", ["/v1/jobs/job_x", "/v1/jobs", "/v1/account", "/v1/models"])
def test_a_key_with_a_bad_checksum_is_invalid_on_every_route(service, path: str) -> None:
    key = service.api_key
    assert is_well_formed(key)
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    response = httpx.get(service.base_url + path, headers=service.headers(typo))
    assert_error(response, 401, "invalid_api_key", None)


def test_the_openapi_document_lists_429(service) -> None:
    spec = httpx.get(service.base_url + "/openapi.json").json()
    assert "429" in spec["paths"]["/v1/videos/generations"]["post"]["responses"]


def test_settings_defaults_let_ordinary_clients_through(service) -> None:
    settings = service.runtime.settings
    assert settings.rate_limit_per_second >= 50 and settings.rate_limit_burst >= 100
    assert settings.max_queued_jobs_per_account >= 100 and settings.max_running_jobs_per_account >= 1
