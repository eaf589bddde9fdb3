"""NUL and other control characters in the dashboard's inputs: a clear 4xx, never a 500 (PostgreSQL
refuses NUL in text outright, SQLite does not: both databases are run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service
from happyhorse.web.users import create_user, get_user_by_email

from .conftest import PASSWORD, WebClient


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[LiveService]:
    settings = Settings(data_dir=tmp_path, signing_secret="s", database_url=database_url)
    with running_service(settings, worker=False) as live:
        yield live


def test_nul_in_any_dashboard_field_is_refused_cleanly(service: LiveService) -> None:
    create_user(service.runtime.db, "op@example.com", PASSWORD, is_operator=True)
    account_id = get_user_by_email(service.runtime.db, "op@example.com").account_id
    with WebClient(base_url=service.base_url, timeout=30) as client:
        assert client.sign_up("new\x00@example.com").status_code == 400
        assert client.sign_in("op\x00@example.com").status_code == 401
        assert client.sign_in("op@example.com").status_code == 303
        headers = client.with_csrf()
        named = client.post("/dashboard/api/keys", json={"name": "ci\x00key"}, headers=headers)
        assert named.status_code == 400 and named.json()["error"]["param"] == "name"
        assert client.post("/dashboard/api/keys", json={"name": "tab\there"}, headers=headers).status_code == 400
        assert client.delete("/dashboard/api/keys/key_%00", headers=headers).status_code == 404
        assert client.post(f"/dashboard/api/operator/accounts/{account_id}%00/grants", json={"amount_usd": "1"},
                           headers=headers).status_code == 404
        memo = client.post(f"/dashboard/api/operator/accounts/{account_id}/grants",
                           json={"amount_usd": "1", "memo": "a\x00b"}, headers=headers)
        assert memo.status_code == 400 and memo.json()["error"]["param"] == "memo"
        # The ordinary inputs still work after all that.
        assert client.post("/dashboard/api/keys", json={"name": "ci key"}, headers=headers).status_code == 201
        granted = client.post(f"/dashboard/api/operator/accounts/{account_id}/grants", json={"amount_usd": "1"},
                              headers=headers)
        assert granted.status_code == 201, granted.text
