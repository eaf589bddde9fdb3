"""Failed sign-ins are limited per email and per client address (429 + Retry-After), on a real app."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from happyhorse.api.app import create_app
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.web.signin_throttle import ADDRESS_BURST, EMAIL_BURST, EMAIL_REFILL_SECONDS, SignInThrottle
from happyhorse.web.users import create_user

from .conftest import PASSWORD


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signin(tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    """``signin(email, password) -> response`` against a fresh app whose throttle runs on a hand-moved clock."""
    runtime = Runtime.open(Settings(data_dir=tmp_path, signing_secret="s"))
    create_user(runtime.db, "victim@example.com", PASSWORD)
    app = create_app(runtime)
    clock = Clock()
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        app.state.signin_throttle = SignInThrottle(clock=clock)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text).group(1)

        def post(email: str, password: str):  # type: ignore[no-untyped-def]
            client.cookies.delete("hh_session")
            return client.post("/signin", data={"email": email, "password": password, "csrf_token": token})

        post.clock = clock  # type: ignore[attr-defined]
        yield post
    runtime.close()


def test_an_email_is_locked_after_its_failures_then_gets_one_try_per_refill(signin) -> None:  # type: ignore[no-untyped-def]
    for _ in range(EMAIL_BURST):
        assert signin("victim@example.com", "guess").status_code == 401
    locked = signin("Victim@Example.com ", PASSWORD)  # even the right password waits; case does not help
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == EMAIL_REFILL_SECONDS
    assert "Too many failed sign-ins" in locked.text and "hh_session" not in locked.headers.get("set-cookie", "")
    # Another email from the same address is not held up by this one.
    assert signin("someone-else@example.com", "guess").status_code == 401

    signin.clock.now += EMAIL_REFILL_SECONDS
    assert signin("victim@example.com", PASSWORD).status_code == 303  # the one try it earned: right, signed in
    assert signin("victim@example.com", PASSWORD).status_code == 303  # successes cost nothing


def test_one_address_spraying_many_emails_is_stopped(signin) -> None:  # type: ignore[no-untyped-def]
    for n in range(ADDRESS_BURST):
        assert signin(f"user{n}@example.com", "guess").status_code == 401
    refused = signin("victim@example.com", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_successful_sign_ins_are_never_throttled(signin) -> None:  # type: ignore[no-untyped-def]
    for _ in range(EMAIL_BURST + 5):
        assert signin("victim@example.com", PASSWORD).status_code == 303
