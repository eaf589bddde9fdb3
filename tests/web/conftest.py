"""Fixtures of the web tests: a live service, a real headless Chromium (Debian's), helpers.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright (never
``playwright install``; CI installs the ``chromium`` package). Set
``HAPPYHORSE_TEST_BROWSER=0`` to skip the browser tests on a machine without it.
Screenshots go to a temporary folder; ``HAPPYHORSE_SCREENSHOTS_DIR=docs/screenshots``
refreshes the ones docs/web.md shows (a plain test run leaves the tree clean).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service

CHROMIUM = os.environ.get("HAPPYHORSE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(os.environ.get("HAPPYHORSE_SCREENSHOTS_DIR", Path(tempfile.gettempdir()) / "happyhorse-screenshots"))
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[LiveService]:
    # Every test of a module signs up from 127.0.0.1: the per-address sign-up limit is off here
    # (tests/web/test_signup_abuse.py tests it).
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-web"), signing_secret="web-test-secret",
                        signup_limit_per_hour=0)
    with running_service(settings) as live:
        yield live


@pytest.fixture
def cheap_password_hashing(monkeypatch):  # type: ignore[no-untyped-def]
    """argon2id at its cheapest, for tests that check many passwords (the throttles): the same code paths,
    milliseconds instead of a third of a second per check."""
    from argon2 import PasswordHasher

    from happyhorse.web import passwords

    monkeypatch.setattr(passwords, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    passwords.dummy_hash.cache_clear()
    yield
    passwords.dummy_hash.cache_clear()  # no cheap dummy hash left behind for later tests


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if os.environ.get("HAPPYHORSE_TEST_BROWSER", "1") == "0":
        pytest.skip("HAPPYHORSE_TEST_BROWSER=0")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: `apt-get install chromium` (or HAPPYHORSE_TEST_BROWSER=0 to skip)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser, service):  # type: ignore[no-untyped-def]
    """A fresh browser profile (no cookies) that may use the clipboard."""
    # bypass_csp: Playwright's wait_for_function evaluates strings in the page, which the dashboard's
    # policy refuses; tests/web/test_security_headers.py runs the pages under the real policy.
    ctx = browser.new_context(base_url=service.base_url, viewport={"width": 1280, "height": 860},
                              permissions=["clipboard-read", "clipboard-write"], bypass_csp=True)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky top bar lands mid-page in a full-page shot
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def account_of(service: LiveService, email: str) -> str:
    from happyhorse.web.users import get_user_by_email

    return get_user_by_email(service.runtime.db, email).account_id


def grant(service: LiveService, email: str, usd: str) -> None:
    from happyhorse.billing.ledger import grant_credits

    grant_credits(service.runtime.db, account_of(service, email), Decimal(usd), memo="test credit")


class WebClient(httpx.Client):
    """An httpx client that signs up or in like a browser (cookies, form tokens) and knows its CSRF token."""

    csrf: str = ""

    def form_token(self, path: str) -> str:
        page = self.get(path)
        return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    def sign_up(self, email: str, password: str = PASSWORD) -> httpx.Response:
        token = self.form_token("/signup")
        response = self.post("/signup", data={"email": email, "password": password, "csrf_token": token})
        self.load_csrf()
        return response

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        token = self.form_token("/signin")
        response = self.post("/signin", data={"email": email, "password": password, "csrf_token": token})
        self.load_csrf()
        return response

    def load_csrf(self) -> None:
        page = self.get("/dashboard/keys")
        found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        self.csrf = found.group(1) if found else ""

    def with_csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


@pytest.fixture
def web_client(service) -> Iterator[WebClient]:  # type: ignore[no-untyped-def]
    with WebClient(base_url=service.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def make_web_client(service):  # type: ignore[no-untyped-def]
    clients: list[WebClient] = []

    def make() -> WebClient:
        client = WebClient(base_url=service.base_url, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
