"""The dashboard's bodies (issue 10, findings 4 and 11): text that is not valid Unicode is a 400 naming
the field before anything is written, in its JSON API (lone surrogates) and its HTML forms (invalid
UTF-8), on SQLite and PostgreSQL; an operator grant of ``"2,50"`` is refused, not read as $250.
(Streamed bodies over the dashboard's cap: tests/api/test_hostile_bodies.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service
from happyhorse.web.users import create_user, get_user_by_email

from .conftest import PASSWORD, WebClient

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[LiveService]:
    settings = Settings(data_dir=tmp_path, signing_secret="s", database_url=database_url)
    with running_service(settings, worker=False) as live:
        yield live


@pytest.fixture
def operator(service: LiveService) -> Iterator[WebClient]:
    """A client signed in as an operator (``op@example.com``)."""
    create_user(service.runtime.db, "op@example.com", PASSWORD, is_operator=True)
    with WebClient(base_url=service.base_url, timeout=30) as client:
        assert client.sign_in("op@example.com").status_code == 303
        yield client


def _grants_path(service: LiveService) -> str:
    return f"/dashboard/api/operator/accounts/{get_user_by_email(service.runtime.db, 'op@example.com').account_id}/grants"


def _assert_error(response, status: int, code: str, param: str | None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error


def test_dashboard_json_bodies_refuse_lone_surrogates(service: LiveService, operator: WebClient) -> None:
    headers = {**operator.with_csrf(), **JSON}
    grants = _grants_path(service)
    for path, body, param in [
        ("/dashboard/api/keys", rb'{"name": "ci \ud83d"}', "name"),
        ("/dashboard/api/keys", rb'{"\udc00": "x"}', "\\udc00"),
        (grants, rb'{"amount_usd": "1", "memo": "thanks \ud83d"}', "memo"),
        (grants, rb'{"amount_usd": "1\ud83d"}', "amount_usd"),
    ]:
        _assert_error(operator.post(path, content=body, headers=headers), 400, "invalid_text", param)
    ledger = operator.get("/dashboard/api/ledger").json()["data"]
    assert [line for line in ledger if line["kind"] == "grant"] == []
    assert all("ci" not in (key.get("name") or "") for key in operator.get("/dashboard/api/keys").json()["data"])
    # The ordinary inputs still work, astral characters (a surrogate pair in JSON) included.
    created = operator.post("/dashboard/api/keys", content=rb'{"name": "ci \ud83d\udc0e"}', headers=headers)
    assert created.status_code == 201 and created.json()["name"] == "ci \U0001f40e", created.text


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/signup", b"email=new%FF%40example.com&password=correct+horse+battery+staple&csrf_token=t", "email"),
    ("/signin", b"email=op%40example.com&password=correct%C3horse&csrf_token=t", "password"),
    ("/signin", b"email=op%40example.com&password=x&csrf_token=t&next=/dashboard%ED%A0%80", "next"),
    ("/signin", b"email=op%40example.com&pass%FFword=x&csrf_token=t", "pass\\xffword"),
])
def test_dashboard_forms_refuse_invalid_utf8(service: LiveService, path: str, body: bytes, param: str) -> None:
    with WebClient(base_url=service.base_url, timeout=30) as client:
        response = client.post(path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    _assert_error(response, 400, "invalid_text", param)


def test_dashboard_forms_refuse_other_charsets(service: LiveService) -> None:
    with WebClient(base_url=service.base_url, timeout=30) as client:
        response = client.post("/signin", content=b"email=op%40example.com&password=x",
                               headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-7"})
    _assert_error(response, 400, "unsupported_charset", None)


def test_the_operator_grant_refuses_a_comma(service: LiveService, operator: WebClient) -> None:
    grants, headers = _grants_path(service), operator.with_csrf()
    refused = operator.post(grants, json={"amount_usd": "2,50"}, headers=headers)
    _assert_error(refused, 400, "invalid_amount", "amount_usd")
    assert "no commas" in refused.json()["error"]["message"]
    assert operator.post(grants, json={"amount_usd": "$2.50"}, headers=headers).status_code == 201
    assert operator.get("/v1/account").json()["balance_usd"] == "2.50"
