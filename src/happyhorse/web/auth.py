"""Dependencies of the dashboard routes: the session, its CSRF token, the operator role.

Pages redirect to the sign-in page when there is no session; the dashboard
API answers 401. State-changing calls need ``X-CSRF-Token`` (403 without it).
Operator-only routes answer 404 to everyone else: they do not exist for them.
The sign-in and sign-up forms, which come before any session, use a
double-submit token instead: a random ``hh_csrf`` cookie that the form
must echo in its ``csrf_token`` field.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request, Response

from happyhorse.api.deps import read_db
from happyhorse.errors import AuthenticationFailed, NotFound
from happyhorse.web.cookies import request_cookie
from happyhorse.web.middleware import csrf_failure
from happyhorse.web.sessions import CSRF_HEADER, SESSION_COOKIE, WebSession, csrf_matches, find_session

PRE_SESSION_COOKIE = "hh_csrf"


async def optional_session(request: Request) -> WebSession | None:
    """The request's live session, or None (looked up once per request)."""
    if "web_session" not in request.scope.setdefault("state", {}):
        runtime = request.app.state.runtime
        token = request_cookie(request, SESSION_COOKIE)
        found = await read_db(runtime, lambda: find_session(runtime.db, token)) if token else None
        request.scope["state"]["web_session"] = found
    return request.scope["state"]["web_session"]


async def require_session(request: Request) -> WebSession:
    session = await optional_session(request)
    if session is None:
        raise AuthenticationFailed("not_signed_in", "sign in to the dashboard first (/signin)", None)
    return session


async def require_csrf(request: Request) -> WebSession:
    """The session of a state-changing dashboard call that sent its CSRF token, else 403."""
    session = await require_session(request)
    if not csrf_matches(session, request.headers.get(CSRF_HEADER)):
        raise csrf_failure()
    return session


async def require_operator(request: Request) -> WebSession:
    session = await require_session(request)
    if not session.user.is_operator:
        raise NotFound("route_not_found", f"no route {request.method} {request.url.path}", None)
    if request.method not in ("GET", "HEAD") and not csrf_matches(session, request.headers.get(CSRF_HEADER)):
        raise csrf_failure()
    return session


SessionDep = Annotated[WebSession, Depends(require_session)]
CsrfSessionDep = Annotated[WebSession, Depends(require_csrf)]
OperatorDep = Annotated[WebSession, Depends(require_operator)]


def is_https(request: Request) -> bool:
    """Whether the browser reached us over https (directly, via a trusted proxy, or per the public URL)."""
    public = request.app.state.runtime.settings.public_base_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def pre_session_token(request: Request) -> str:
    """The double-submit token of the sign-in/sign-up forms: the ``hh_csrf`` cookie's value (set if absent)."""
    token = request_cookie(request, PRE_SESSION_COOKIE)
    if not token or len(token) > 100:
        token = secrets.token_urlsafe(24)
        request.scope.setdefault("state", {})["new_pre_session_token"] = token
    return token


def set_pre_session_cookie(request: Request, response: Response) -> None:
    token = request.scope.get("state", {}).get("new_pre_session_token")
    if token:
        response.set_cookie(PRE_SESSION_COOKIE, token, httponly=True, samesite="lax", secure=is_https(request),
                            path="/")


def pre_session_token_matches(request: Request, sent: str | None) -> bool:
    cookie = request_cookie(request, PRE_SESSION_COOKIE)
    return bool(cookie and sent) and hmac.compare_digest(cookie.encode(), (sent or "").encode())
