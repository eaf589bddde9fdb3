"""Sign-up abuse (issue 10, finding 6): sign-ups limited per client address, taken emails not told apart,
look-alike and direction-changing emails refused, emails normalised the same on every way in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from happyhorse.app import create_app
from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts, users
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.testing import running_service
from happyhorse.web.passwords import hash_password
from happyhorse.web.signin_throttle import PAIR_BURST
from happyhorse.web.signup_throttle import SignUpThrottle
from happyhorse.web.users import authenticate_user, create_user, get_user_by_email

from .conftest import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


class Forms:
    """Posts the sign-up and sign-in forms to one app, from any client address (one TestClient each)."""

    def __init__(self, app, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
        self.app, self.runtime = app, runtime
        self._clients: dict[str, tuple[TestClient, str]] = {}

    def sign_up(self, email: str, password: str = PASSWORD, *, address: str = "203.0.113.1") -> httpx.Response:
        return self._post("/signup", email, password, address)

    def sign_in(self, email: str, password: str = PASSWORD, *, address: str = "203.0.113.1") -> httpx.Response:
        return self._post("/signin", email, password, address)

    def _post(self, path: str, email: str, password: str, address: str) -> httpx.Response:
        if address not in self._clients:
            client = TestClient(self.app, base_url="http://testserver", follow_redirects=False, client=(address, 5000))
            self._clients[address] = (client, TOKEN.search(client.get("/signin").text).group(1))  # type: ignore[union-attr]
        client, token = self._clients[address]
        client.cookies.delete("hh_session")
        return client.post(path, data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def forms(tmp_path, database_url, cheap_password_hashing) -> Iterator[Forms]:  # type: ignore[no-untyped-def]
    """On SQLite and on PostgreSQL (Unicode spellings are looked up on both)."""
    runtime = Runtime.open(Settings(data_dir=tmp_path, signing_secret="s", database_url=database_url))
    app = create_app(runtime)
    with TestClient(app):  # the app's startup, once for all the clients
        yield Forms(app, runtime)
    runtime.close()


def _banner(page: httpx.Response) -> str:
    """The error the form page shows."""
    return re.search(r'<p class="error-banner" role="alert" >([^<]*)</p>', page.text).group(1)  # type: ignore[union-attr]


def _user_count(runtime: Runtime) -> int:
    with runtime.db.connect() as conn:
        return conn.execute(select(func.count()).select_from(users)).scalar_one()


# -- the per-address sign-up limit ------------------------------------------------------------


def test_sign_ups_from_one_address_are_limited_then_429_with_retry_after(forms) -> None:  # type: ignore[no-untyped-def]
    assert Settings().signup_limit_per_hour == 5  # the default, under serve and api alike
    clock = Clock()
    forms.app.state.signup_throttle = SignUpThrottle(5, clock=clock)
    for n in range(5):
        assert forms.sign_up(f"farm{n}@example.com").status_code == 303
    refused = forms.sign_up("farm5@example.com")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 3600 // 5
    assert "Too many sign-ups" in refused.text and "12 minutes" in refused.text
    assert "hh_session" not in refused.headers.get("set-cookie", "")
    # The same /64 is the same client; another client is not held up.
    assert forms.sign_up("farm6@example.com", address="2001:db8:5::1").status_code == 303
    for n in range(4):
        assert forms.sign_up(f"v6-{n}@example.com", address=f"2001:db8:5::{n + 2:x}").status_code == 303
    assert forms.sign_up("v6-4@example.com", address="2001:db8:5::99").status_code == 429
    assert forms.sign_up("someone@example.com", address="198.51.100.7").status_code == 303
    # One more per 3600/5 s.
    clock.now += 3600 / 5
    assert forms.sign_up("farm7@example.com").status_code == 303
    assert forms.sign_up("farm8@example.com").status_code == 429
    assert _user_count(forms.runtime) == 5 + 5 + 1 + 1


def test_parallel_sign_ups_do_not_get_past_the_limit(tmp_path, cheap_password_hashing) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, signing_secret="s")  # the defaults: 5 an hour
    with running_service(settings, worker=False) as live, httpx.Client(base_url=live.base_url, timeout=60) as client:
        token = TOKEN.search(client.get("/signup").text).group(1)  # type: ignore[union-attr]

        def sign_up(n: int) -> int:
            form = {"email": f"burst{n}@example.com", "password": PASSWORD, "csrf_token": token}
            return client.post("/signup", data=form).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(pool.map(sign_up, range(12)))
        assert sorted(codes) == [303] * 5 + [429] * 7, codes
        assert _user_count(live.runtime) == 5


def test_form_mistakes_do_not_use_up_the_limit(forms) -> None:  # type: ignore[no-untyped-def]
    for _ in range(10):
        assert forms.sign_up("not-an-email").status_code == 400
        assert forms.sign_up("short@example.com", "short").status_code == 400
    assert forms.sign_up("finally@example.com").status_code == 303


# -- a taken email answers as a sign-in would --------------------------------------------------


def test_a_taken_email_is_not_told_apart_from_a_failed_sign_in(forms) -> None:  # type: ignore[no-untyped-def]
    forms.app.state.signup_throttle = SignUpThrottle(0)  # this test is about the answers, not the limit
    create_user(forms.runtime.db, "owner@example.com", PASSWORD, starting_credit=Decimal("3"))
    taken = forms.sign_up("Owner@Example.com", "another password")
    failed_sign_in = forms.sign_in("owner@example.com", "another password", address="203.0.113.2")
    assert taken.status_code == failed_sign_in.status_code == 401
    assert _banner(taken) == _banner(failed_sign_in) == "the email or the password is not right"
    assert "hh_session" not in taken.headers.get("set-cookie", "")
    # The owner's own password on the sign-up form signs the owner in: no second account, no new credit.
    owner = forms.sign_up("owner@example.com", PASSWORD, address="203.0.113.3")
    assert owner.status_code == 303 and "hh_session=" in owner.headers["set-cookie"]
    assert _user_count(forms.runtime) == 1
    with forms.runtime.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(accounts)).scalar_one() == 1
    # Wrong passwords on the sign-up form count as failed sign-ins.
    for _ in range(PAIR_BURST - 1):
        assert forms.sign_up("owner@example.com", "guess guess").status_code == 401
    assert forms.sign_in("owner@example.com", PASSWORD).status_code == 429
    assert forms.sign_up("owner@example.com", PASSWORD).status_code == 429
    assert forms.sign_in("owner@example.com", PASSWORD, address="198.51.100.7").status_code == 303


# -- look-alike emails ----------------------------------------------------------------------------


@pytest.mark.parametrize(("email", "said"), [
    ("ad\u202enimda@example.com", "U+202E"),  # RIGHT-TO-LEFT OVERRIDE: shows as "adadmin@..."
    ("admin\u200b@example.com", "U+200B"),  # ZERO WIDTH SPACE
    ("admin@exa\u2066mple.com", "U+2066"),  # LEFT-TO-RIGHT ISOLATE
    ("\u0430dmin@example.com", "before the @ must be ASCII"),  # Cyrillic а
    ("josé@example.com", "before the @ must be ASCII"),
    ("admin@p\u0430ypal.com", "mixes Cyrillic and Latin"),
    ("admin@xn--pypal-4ve.com", "mixes Cyrillic and Latin"),  # the same, typed as punycode
    ("admin@ex\u03bfmple.com", "mixes Greek and Latin"),  # Greek ο
    ("admin@exa mple.com", "space"),
    ("admin@@example.com", "such as you@example.com"),
    ("admin@ex_ample.com", "not a valid domain name"),
])
def test_look_alike_and_hidden_character_emails_are_refused(forms, email: str, said: str) -> None:  # type: ignore[no-untyped-def]
    refused = forms.sign_up(email)
    assert refused.status_code == 400, refused.text
    assert said in refused.text
    assert _user_count(forms.runtime) == 0


def test_emails_are_stored_normalised_and_every_spelling_signs_in(forms) -> None:  # type: ignore[no-untyped-def]
    assert forms.sign_up("  Ｒider@Bücher.DE ").status_code == 303  # full-width R, an IDN domain
    assert get_user_by_email(forms.runtime.db, "rider@bücher.de").email == "rider@xn--bcher-kva.de"
    for spelling in ("rider@bücher.de", "RIDER@XN--BCHER-KVA.DE", "ｒｉｄｅｒ＠ｂüｃｈｅｒ．ｄｅ"):
        assert forms.sign_in(spelling).status_code == 303, spelling
    # And the same person cannot sign up again in another spelling.
    assert forms.sign_up("rider@xn--bcher-kva.de", "another password").status_code == 401
    assert _user_count(forms.runtime) == 1


def test_users_stored_before_these_rules_still_sign_in(tmp_path, database_url, cheap_password_hashing) -> None:  # type: ignore[no-untyped-def]
    runtime = Runtime.open(Settings(data_dir=tmp_path, signing_secret="s", database_url=database_url))
    try:
        create_user(runtime.db, "team@example.com", PASSWORD)
        account_id = get_user_by_email(runtime.db, "team@example.com").account_id
        with runtime.db.begin() as conn:  # as older versions stored them: trimmed and lower-cased only
            for n, email in enumerate(["josé@example.com", "old@bücher.de"]):
                conn.execute(users.insert().values(id=f"user_legacy{n}", account_id=account_id, email=email,
                                                   password_hash=hash_password(PASSWORD), is_operator=False,
                                                   created_at=db_now(conn.dialect.name)))
        assert authenticate_user(runtime.db, " José@Example.com", PASSWORD).email == "josé@example.com"
        assert authenticate_user(runtime.db, "OLD@bücher.de", PASSWORD).email == "old@bücher.de"
        with pytest.raises(Exception, match="already exists"):  # its punycode spelling is the same email
            create_user(runtime.db, "old@xn--bcher-kva.de", PASSWORD)
    finally:
        runtime.close()
