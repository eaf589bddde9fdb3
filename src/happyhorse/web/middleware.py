"""The session cookie on ``/v1`` routes: a browser signed in to the dashboard calls the public API.

For a ``/v1`` request that has no ``Authorization`` header but carries a live
session cookie, this middleware adds ``Authorization: Bearer <the session's
API key>`` (see :mod:`happyhorse.web.sessions`) and lets the request through
to the ordinary routes. A state-changing request (anything but GET, HEAD and
OPTIONS) must also carry the session's CSRF token in ``X-CSRF-Token``, or it is
refused with 403 ``csrf_token_invalid``. An explicit ``Authorization`` header
always wins: API clients never see the cookie path.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from happyhorse.api.deps import read_db
from happyhorse.errors import Forbidden
from happyhorse.web.cookies import cookie_value
from happyhorse.web.sessions import CSRF_HEADER, SESSION_COOKIE, csrf_matches, find_session, session_api_key

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_HEADER = CSRF_HEADER.lower().encode()


def csrf_failure() -> Forbidden:
    return Forbidden(
        "csrf_token_invalid",
        f"this request came with the dashboard's session cookie but without its CSRF token; "
        f"send the page's token in the {CSRF_HEADER} header (or use an API key instead)",
        None,
    )


class SessionCookieMiddleware:
    """Authenticates ``/v1`` browser requests by the dashboard session (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        # The cookie is read only where it can matter: an explicit key always wins.
        if any(key == b"authorization" for key, _ in headers):
            await self.app(scope, receive, send)
            return
        token = cookie_value(headers, SESSION_COOKIE)
        if token is None:
            await self.app(scope, receive, send)
            return
        app_state = scope["app"].state
        runtime = app_state.runtime
        session = await read_db(runtime, lambda: find_session(runtime.db, token))
        if session is None:  # expired or signed out: the route answers 401 as for no key
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            sent = next((value.decode("latin-1") for key, value in headers if key == _CSRF_HEADER), None)
            if not csrf_matches(session, sent):
                request_id = scope.get("state", {}).get("request_id")
                error = csrf_failure()
                await JSONResponse(error.to_dict(request_id), status_code=error.status)(scope, receive, send)
                return
        key = session_api_key(app_state.web_secret, token)
        scope = dict(scope, headers=[*headers, (b"authorization", f"Bearer {key}".encode())])
        await self.app(scope, receive, send)
