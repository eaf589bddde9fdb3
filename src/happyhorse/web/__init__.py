"""The browser side: sign-up and sign-in, the dashboard pages and the playground.

Pages are HTML rendered from small templates; everything they show comes
from the public ``/v1`` API, which the browser calls with its session cookie
(:mod:`~happyhorse.web.middleware` turns the cookie into the session's own API
key), plus a few dashboard-only endpoints under ``/dashboard/api`` (API keys,
the ledger, operator pages). Static assets (CSS, JavaScript modules) ship in
the package: no build step, nothing loaded from the internet.

Modules:

- :mod:`~happyhorse.web.passwords`: argon2id hashes;
- :mod:`~happyhorse.web.users`: users of an account, sign-up, sign-in;
- :mod:`~happyhorse.web.sessions`: sessions, their API key and CSRF token;
- :mod:`~happyhorse.web.middleware`: the session cookie on ``/v1`` routes;
- :mod:`~happyhorse.web.auth`: dependencies of the dashboard routes;
- :mod:`~happyhorse.web.pages`, :mod:`~happyhorse.web.api`: the routes;
- :mod:`~happyhorse.web.dashboard`: the account-scoped reads and writes behind ``/dashboard/api``;
- :mod:`~happyhorse.web.templates`, :mod:`~happyhorse.web.static_files`: markup and assets;
- :mod:`~happyhorse.web.bootstrap`: the dev user of ``happyhorse serve``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the web pages, the dashboard API, the static assets and the cookie middleware to ``app``
    (whose ``state.runtime`` is set)."""
    from happyhorse.web import api, pages
    from happyhorse.web.middleware import SessionCookieMiddleware
    from happyhorse.web.signin_throttle import SignInThrottle
    from happyhorse.web.signup_throttle import SignUpThrottle
    from happyhorse.web.static_files import mount_static

    # The key the sessions' API keys are derived with (see web.sessions): the deployment's signing secret.
    app.state.web_secret = app.state.runtime.settings.resolved_signing_secret()
    app.state.signin_throttle = SignInThrottle()
    app.state.signup_throttle = SignUpThrottle(app.state.runtime.settings.signup_limit_per_hour)
    mount_static(app)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.add_middleware(SessionCookieMiddleware)
