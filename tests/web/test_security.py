"""Sessions, CSRF and isolation, over plain HTTP against a live service (no browser)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from happyhorse.app import create_app
from happyhorse.db.schema import users
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.web.users import create_user

from .conftest import PASSWORD, grant


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def _job_of(client, service, email: str) -> str:  # type: ignore[no-untyped-def]
    grant(service, email, "1")
    job = client.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3}, headers=client.with_csrf())
    assert job.status_code == 202, job.text
    return job.json()["job_id"]


def test_sign_up_signs_in_with_a_secure_cookie_and_an_argon2_hash(web_client, service) -> None:  # type: ignore[no-untyped-def]
    response = web_client.sign_up("Cookie@Example.com")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/keys"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("hh_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on loopback; see the https test below
    with service.runtime.db.connect() as conn:
        stored = conn.execute(select(users.c.email, users.c.password_hash)).all()
    hashes = {row.email: row.password_hash for row in stored}
    assert hashes["cookie@example.com"].startswith("$argon2id$")
    assert PASSWORD not in hashes["cookie@example.com"]
    account = web_client.get("/v1/account").json()
    assert account["name"] == "cookie@example.com" and account["balance_usd"] == "0.00"


def test_sign_in_sign_out_and_wrong_passwords(make_web_client, service) -> None:  # type: ignore[no-untyped-def]
    first = make_web_client()
    first.sign_up("inout@example.com")
    second = make_web_client()
    wrong = second.post("/signin", data={"email": "inout@example.com", "password": "nope-nope",
                                         "csrf_token": second.form_token("/signin")})
    unknown = second.post("/signin", data={"email": "nobody@example.com", "password": "nope-nope",
                                           "csrf_token": second.form_token("/signin")})
    assert wrong.status_code == unknown.status_code == 401
    assert "the email or the password is not right" in wrong.text and "hh_session" not in wrong.headers.get("set-cookie", "")
    assert second.sign_in("INOUT@example.com").status_code == 303
    assert second.get("/v1/account").status_code == 200
    # Signing out ends that session (and its API key) only.
    out = second.post("/signout", data={"csrf_token": second.csrf})
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    session_cookie = re.search(r"hh_session=([^;]*)", out.headers["set-cookie"])
    assert session_cookie and session_cookie.group(1) in ("", '""')
    assert first.get("/v1/account").status_code == 200
    assert second.get("/dashboard/keys").status_code == 303


def test_a_signed_out_session_cookie_is_dead(web_client) -> None:  # type: ignore[no-untyped-def]
    web_client.sign_up("replay@example.com")
    token = web_client.cookies["hh_session"]
    web_client.post("/signout", data={"csrf_token": web_client.csrf})
    with httpx.Client(base_url=str(web_client.base_url), cookies={"hh_session": token}) as replay:
        _error(replay.get("/v1/account"), 401, "missing_api_key")
        _error(replay.get("/dashboard/api/keys"), 401, "not_signed_in")
        assert replay.get("/dashboard/usage").status_code == 303


def test_every_form_and_state_changing_call_needs_its_csrf_token(make_web_client, service) -> None:  # type: ignore[no-untyped-def]
    create_user(service.runtime.db, "op-csrf@example.com", PASSWORD, is_operator=True)
    client = make_web_client()
    client.sign_in("op-csrf@example.com")
    job_id = _job_of(client, service, "op-csrf@example.com")
    key_id = client.post("/dashboard/api/keys", json={"name": "x"}, headers=client.with_csrf()).json()["id"]
    account_id = client.get("/dashboard/api/session").json()["account"]["id"]
    other = make_web_client()
    other.sign_up("csrf-other@example.com")
    calls = [
        ("POST", "/dashboard/api/keys", {"json": {"name": "y"}}),
        ("DELETE", f"/dashboard/api/keys/{key_id}", {}),
        ("POST", f"/dashboard/api/operator/accounts/{account_id}/grants", {"json": {"amount_usd": "1"}}),
        ("POST", "/v1/videos/generations", {"json": {"prompt": "a horse", "duration": 3}}),
        ("POST", "/v1/uploads", {"files": {"file": ("a.png", b"\x89PNG", "image/png")}}),
        ("POST", f"/v1/jobs/{job_id}/cancel", {}),
    ]
    for method, path, extra in calls:
        for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": other.csrf}, {"X-CSRF-Token": client.csrf + "x"}):
            _error(client.request(method, path, headers=headers, **extra), 403, "csrf_token_invalid")
    # The forms: sign-out with the wrong token keeps the session; sign-in/up without the form's token fail.
    assert client.post("/signout", data={"csrf_token": other.csrf}).status_code == 403
    assert client.get("/v1/account").status_code == 200
    fresh = make_web_client()
    for path in ("/signin", "/signup"):
        fresh.get(path)  # sets the form cookie
        refused = fresh.post(path, data={"email": "csrf-new@example.com", "password": PASSWORD})
        assert refused.status_code == 403 and "hh_session" not in refused.headers.get("set-cookie", "")
        forged = fresh.post(path, data={"email": "csrf-new@example.com", "password": PASSWORD, "csrf_token": "forged"})
        assert forged.status_code == 403
    # Nothing happened: the key is still active and the job still exists, uncancelled by those calls.
    keys = {k["id"]: k for k in client.get("/dashboard/api/keys").json()["data"]}
    assert keys[key_id]["active"] and len(keys) == 1
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] != "cancelled"
    # And with the token each call goes through.
    assert client.post("/dashboard/api/keys", json={"name": "y"}, headers=client.with_csrf()).status_code == 201


def test_another_accounts_jobs_keys_and_pages_are_unreachable(make_web_client, service) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_web_client(), make_web_client()
    alice.sign_up("alice@example.com")
    bob.sign_up("bob@example.com")
    job_id = _job_of(alice, service, "alice@example.com")
    alice_key = alice.post("/dashboard/api/keys", json={"name": "a"}, headers=alice.with_csrf()).json()
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/events", f"/v1/jobs/{job_id}/content"):
        assert bob.get(path).status_code == 404, path
    assert bob.post(f"/v1/jobs/{job_id}/cancel", headers=bob.with_csrf()).status_code == 404
    assert job_id not in bob.get("/v1/jobs").text
    assert bob.get("/dashboard/api/keys").json()["data"] == []
    _error(bob.delete(f"/dashboard/api/keys/{alice_key['id']}", headers=bob.with_csrf()), 404, "key_not_found")
    assert alice.get("/dashboard/api/keys").json()["data"][0]["active"] is True
    assert bob.get("/dashboard/api/ledger").json()["data"] == []
    # Operator pages do not exist for customers.
    assert bob.get("/dashboard/operator").status_code == 404
    assert bob.get("/dashboard/api/operator/accounts").status_code == 404
    account_id = alice.get("/dashboard/api/session").json()["account"]["id"]
    assert bob.post(f"/dashboard/api/operator/accounts/{account_id}/grants", json={"amount_usd": "100"},
                    headers=bob.with_csrf()).status_code == 404
    assert alice.get("/v1/account").json()["balance_usd"] == "1.00"


def test_a_session_key_is_not_an_account_key(web_client, service) -> None:  # type: ignore[no-untyped-def]
    web_client.sign_up("sessionkey@example.com")
    assert web_client.get("/dashboard/api/keys").json()["data"] == []
    session = web_client.get("/dashboard/api/session").json()
    assert set(session) == {"user", "account", "csrf_token", "expires_at"}  # the session's API key never leaves
    # An explicit Authorization header wins over the cookie.
    _error(web_client.get("/v1/account", headers={"Authorization": "Bearer hh_live_nope"}), 401, "invalid_api_key")
    assert web_client.get("/v1/account", headers={"Authorization": f"Bearer {service.api_key}"}).json()["name"] == "tester"


def test_pages_redirect_to_sign_in_and_next_stays_local(web_client) -> None:  # type: ignore[no-untyped-def]
    for page in ("playground", "keys", "webhooks", "usage", "pricing", "operator"):
        response = web_client.get(f"/dashboard/{page}")
        assert response.status_code == 303 and response.headers["location"] == f"/signin?next=/dashboard/{page}"
    token = web_client.form_token("/signin")
    web_client.post("/signup", data={"email": "next@example.com", "password": PASSWORD,
                                     "csrf_token": web_client.form_token("/signup")})
    web_client.post("/signout", data={"csrf_token": web_client.form_token("/dashboard/keys")})
    token = web_client.form_token("/signin")
    for target, expected in (("/dashboard/usage", "/dashboard/usage"), ("//evil.example/x", "/dashboard/playground"),
                             ("https://evil.example/", "/dashboard/playground")):
        response = web_client.post("/signin", data={"email": "next@example.com", "password": PASSWORD,
                                                    "csrf_token": token, "next": target})
        assert response.headers["location"] == expected
        web_client.cookies.delete("hh_session")


def test_sign_up_can_be_turned_off(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, signing_secret="s", allow_signup=False)
    runtime = Runtime.open(settings)
    try:
        with TestClient(create_app(runtime), base_url="http://testserver", follow_redirects=False) as client:
            assert client.get("/signup").status_code == 403
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text).group(1)
            assert "/signup" not in client.get("/signin").text
            refused = client.post("/signup", data={"email": "x@example.com", "password": PASSWORD, "csrf_token": token})
            assert refused.status_code == 403 and "closed" in refused.text
            # The operator still creates users; they sign in.
            create_user(runtime.db, "staff@example.com", PASSWORD)
            signed_in = client.post("/signin", data={"email": "staff@example.com", "password": PASSWORD,
                                                     "csrf_token": token})
            assert signed_in.status_code == 303
    finally:
        runtime.close()


@pytest.mark.parametrize("signup_credit", ["0", "5"])
def test_https_cookies_are_secure_and_sign_up_credit_applies(tmp_path, signup_credit: str) -> None:
    from decimal import Decimal

    settings = Settings(data_dir=tmp_path, signing_secret="s", signup_credit_usd=Decimal(signup_credit))
    runtime = Runtime.open(settings)
    try:
        with TestClient(create_app(runtime), base_url="https://testserver", follow_redirects=False) as client:
            page = client.get("/signup")
            assert "Secure" in page.headers["set-cookie"]
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            signed_up = client.post("/signup", data={"email": "s@example.com", "password": PASSWORD,
                                                     "csrf_token": token})
            assert "Secure" in signed_up.headers["set-cookie"] and "HttpOnly" in signed_up.headers["set-cookie"]
            balance = client.get("/v1/account").json()["balance_usd"]
            assert Decimal(balance) == Decimal(signup_credit)
    finally:
        runtime.close()
