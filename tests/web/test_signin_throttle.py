"""Failed sign-ins are limited per (email, address), per address and (loosely) per email, with 429 +
Retry-After, on a real app; a guesser elsewhere does not lock the owner out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.testclient import TestClient

from happyhorse.app import create_app
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.testing import running_service
from happyhorse.web.signin_throttle import (
    ADDRESS_BURST,
    EMAIL_BURST,
    PAIR_BURST,
    PAIR_REFILL_SECONDS,
    SignInThrottle,
)
from happyhorse.web.users import create_user

from .conftest import PASSWORD


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


class SignIn:
    """``signin(email, password, address=...) -> response`` against one app whose throttle runs on a hand-moved
    clock; each client address is its own TestClient (``request.client.host``)."""

    def __init__(self, app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
        self.app, self.clock = app, clock
        self._clients: dict[str, tuple[TestClient, str]] = {}

    def __call__(self, email: str, password: str, *, address: str = "203.0.113.1"):  # type: ignore[no-untyped-def]
        client, token = self._client(address)
        client.cookies.delete("hh_session")
        return client.post("/signin", data={"email": email, "password": password, "csrf_token": token})

    def _client(self, address: str) -> tuple[TestClient, str]:
        if address not in self._clients:
            client = TestClient(self.app, base_url="http://testserver", follow_redirects=False, client=(address, 5000))
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text).group(1)  # type: ignore[union-attr]
            self._clients[address] = (client, token)
        return self._clients[address]


@pytest.fixture
def signin(tmp_path, cheap_password_hashing) -> Iterator[SignIn]:  # type: ignore[no-untyped-def]
    runtime = Runtime.open(Settings(data_dir=tmp_path, signing_secret="s"))
    create_user(runtime.db, "victim@example.com", PASSWORD)
    app = create_app(runtime)
    with TestClient(app):  # runs the app's startup once for all the clients
        app.state.signin_throttle = SignInThrottle(clock=(clock := Clock()))
        yield SignIn(app, clock)
    runtime.close()


def test_an_email_is_locked_for_one_address_then_gets_one_try_per_refill(signin) -> None:  # type: ignore[no-untyped-def]
    for _ in range(PAIR_BURST):
        assert signin("victim@example.com", "guess").status_code == 401
    locked = signin("Ｖictim@Example.com ", PASSWORD)  # even the right password waits; spelling does not help
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == PAIR_REFILL_SECONDS
    assert "Too many failed sign-ins" in locked.text and "hh_session" not in locked.headers.get("set-cookie", "")
    # Another email from the same address is not held up by this one.
    assert signin("someone-else@example.com", "guess").status_code == 401

    signin.clock.now += PAIR_REFILL_SECONDS
    assert signin("victim@example.com", PASSWORD).status_code == 303  # the one try it earned: right, signed in
    assert signin("victim@example.com", PASSWORD).status_code == 303  # successes cost nothing


def test_the_owner_signs_in_from_elsewhere_while_guessers_hammer_the_email(signin) -> None:  # type: ignore[no-untyped-def]
    guessers = ["203.0.113.1", "203.0.113.2", "2001:db8:1::1"]
    for address in guessers:
        for _ in range(PAIR_BURST):
            assert signin("victim@example.com", "guess", address=address).status_code == 401
    for _ in range(50):  # and they keep going, refused without a password check
        assert signin("victim@example.com", "guess", address="203.0.113.1").status_code == 429
    # Another address in the same IPv6 /64 is the same guesser.
    assert signin("victim@example.com", PASSWORD, address="2001:db8:1::beef").status_code == 429
    # The owner, at home, is not locked out by any of them.
    assert signin("victim@example.com", PASSWORD, address="198.51.100.7").status_code == 303


def test_parallel_guesses_are_counted_like_sequential_ones(tmp_path, cheap_password_hashing) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, signing_secret="s")
    with running_service(settings, worker=False) as live, httpx.Client(base_url=live.base_url, timeout=60) as client:
        create_user(live.runtime.db, "victim@example.com", PASSWORD)
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text).group(1)  # type: ignore[union-attr]
        guess = {"email": "victim@example.com", "password": "guess", "csrf_token": token}
        with ThreadPoolExecutor(max_workers=PAIR_BURST + 8) as pool:  # all in flight before any has failed
            codes = list(pool.map(lambda _: client.post("/signin", data=guess).status_code, range(PAIR_BURST + 8)))
    assert codes.count(401) == PAIR_BURST and codes.count(429) == 8, codes


def test_successful_sign_ins_are_never_throttled(signin) -> None:  # type: ignore[no-untyped-def]
    for _ in range(PAIR_BURST + 5):
        assert signin("victim@example.com", PASSWORD).status_code == 303


def test_one_address_spraying_many_emails_is_stopped() -> None:
    throttle = SignInThrottle(clock=Clock())
    for n in range(ADDRESS_BURST):
        assert throttle.retry_after(f"user{n}@example.com", "203.0.113.9") == 0
        throttle.failed(f"user{n}@example.com", "203.0.113.9")
    assert throttle.retry_after("victim@example.com", "203.0.113.9") > 0
    assert throttle.retry_after("victim@example.com", "203.0.113.10") == 0


def test_many_addresses_together_meet_the_looser_per_email_limit() -> None:
    throttle = SignInThrottle(clock=Clock())
    addresses = [f"203.0.113.{n}" for n in range(EMAIL_BURST // PAIR_BURST)]
    for address in addresses:
        for _ in range(PAIR_BURST):
            throttle.failed("victim@example.com", address)
    assert throttle.retry_after("victim@example.com", "198.51.100.7") > 0  # the botnet case: a cap on all guesses
    assert throttle.retry_after("other@example.com", "198.51.100.7") == 0
