"""The HTML pages: sign-in, sign-up, sign-out, and the dashboard (playground, keys, webhooks, usage,
pricing, operator)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from happyhorse.api.body import read_text_form
from happyhorse.errors import ServiceError
from happyhorse.web.auth import (
    is_https,
    optional_session,
    pre_session_token,
    pre_session_token_matches,
    set_pre_session_cookie,
)
from happyhorse.web.client_address import client_address_key
from happyhorse.web.sessions import CSRF_FIELD, SESSION_COOKIE, csrf_matches, end_session, start_session
from happyhorse.web.templates import Raw, page, public_page
from happyhorse.web.users import User, authenticate_user, check_sign_up_form, sign_up_user

router = APIRouter(include_in_schema=False)

_NO_STORE = {"Cache-Control": "no-store"}
_PAGES = {
    # slug: (template, title, script)
    "playground": ("playground.html", "Playground", "playground.js"),
    "keys": ("keys.html", "API keys", "keys.js"),
    "webhooks": ("webhooks.html", "Webhooks", "webhooks.js"),
    "usage": ("usage.html", "Usage", "usage.js"),
    "pricing": ("pricing.html", "Pricing", "pricing.js"),
    "operator": ("operator.html", "Operator", "operator.js"),
}


def _message(title: str, message: str) -> str:
    return public_page("message.html", title=title, message=message)


def _signup_closed() -> HTMLResponse:
    text = "This server does not take new sign-ups; ask its operator for an account."
    return HTMLResponse(_message("Sign-up is closed", text), status_code=403)


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a local path only (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard/playground"


@router.get("/")
async def home(request: Request) -> Response:
    signed_in = await optional_session(request)
    return RedirectResponse("/dashboard/playground" if signed_in else "/signin", status_code=303)


@router.get("/dashboard")
async def dashboard_home() -> Response:
    return RedirectResponse("/dashboard/playground", status_code=303)


@router.get("/dashboard/{slug}")
async def dashboard_page(slug: str, request: Request) -> Response:
    session = await optional_session(request)
    known = _PAGES.get(slug)
    if known is None or (slug == "operator" and session is not None and not session.user.is_operator):
        return HTMLResponse(_message("Not found", "There is no such page."), status_code=404)
    if session is None:
        return RedirectResponse(f"/signin?next=/dashboard/{slug}", status_code=303)
    template, title, script = known
    body = page(template, title=title, active=slug, email=session.user.email, csrf=session.csrf_token,
                operator=session.user.is_operator, script=script, account=session.user.account_name)
    return HTMLResponse(body, headers=_NO_STORE)


# -- sign-in, sign-up, sign-out -------------------------------------------


def _auth_form(request: Request, kind: str, *, error: str = "", email: str = "", status: int = 200,
               next_path: str | None = None) -> HTMLResponse:
    settings = request.app.state.runtime.settings
    token = pre_session_token(request)
    if kind == "signup":
        body = public_page("signup.html", title="Create an account", csrf=token, error=error, email=email,
                           error_hidden=Raw("" if error else "hidden"), next=_safe_next(next_path))
    else:
        signup_link = Raw('<p>No account yet? <a href="/signup">Create one</a>.</p>' if settings.allow_signup else "")
        body = public_page("signin.html", title="Sign in", csrf=token, error=error, email=email,
                           error_hidden=Raw("" if error else "hidden"), signup_link=signup_link,
                           next=_safe_next(next_path))
    response = HTMLResponse(body, status_code=status, headers=_NO_STORE)
    set_pre_session_cookie(request, response)
    return response


def _signed_in(request: Request, user: User, next_path: str | None) -> Response:
    runtime = request.app.state.runtime
    token, session = start_session(runtime.db, user, secret=request.app.state.web_secret,
                                   ttl_seconds=runtime.settings.session_ttl_seconds)
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=runtime.settings.session_ttl_seconds, httponly=True,
                        samesite="lax", secure=is_https(request), path="/")
    return response


def _csrf_refused(request: Request, kind: str) -> HTMLResponse:
    return _auth_form(request, kind, status=403,
                      error="This form expired or came from another site. Please try again.")


def _too_many(request: Request, kind: str, wait: int, *, email: str, next_path: str | None = None) -> HTMLResponse:
    what = "failed sign-ins" if kind == "signin" else "sign-ups or sign-ins from your network address"
    response = _auth_form(request, kind, email=email, status=429, next_path=next_path,
                          error=f"Too many {what}. Please try again in {_duration(wait)}.")
    response.headers["Retry-After"] = str(wait)
    return response


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


@router.get("/signin")
async def signin_form(request: Request, next: str | None = None) -> Response:
    if await optional_session(request):
        return RedirectResponse(_safe_next(next), status_code=303)
    return _auth_form(request, "signin", next_path=next)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await read_text_form(request)
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    next_path = str(form.get("next") or "")
    if not pre_session_token_matches(request, str(form.get(CSRF_FIELD, ""))):
        return _csrf_refused(request, "signin")
    runtime, throttle = request.app.state.runtime, request.app.state.signin_throttle
    address = client_address_key(request)
    async with throttle.one_at_a_time(address):
        if wait := throttle.retry_after(email, address):
            return _too_many(request, "signin", wait, email=email, next_path=next_path)
        try:
            user = await run_in_threadpool(authenticate_user, runtime.db, email, password)
        except ServiceError as error:
            throttle.failed(email, address)
            return _auth_form(request, "signin", error=error.message, email=email, status=401, next_path=next_path)
    return await run_in_threadpool(_signed_in, request, user, next_path)


@router.get("/signup")
async def signup_form(request: Request) -> Response:
    if not request.app.state.runtime.settings.allow_signup:
        return _signup_closed()
    return _auth_form(request, "signup")


@router.post("/signup")
async def signup(request: Request) -> Response:
    runtime = request.app.state.runtime
    if not runtime.settings.allow_signup:
        return _signup_closed()
    form = await read_text_form(request)
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    if not pre_session_token_matches(request, str(form.get(CSRF_FIELD, ""))):
        return _csrf_refused(request, "signup")
    try:
        check_sign_up_form(email, password)  # the form's own mistakes: told at once, counted nowhere
    except ServiceError as error:
        return _auth_form(request, "signup", error=error.message, email=email, status=error.status)
    signins, address = request.app.state.signin_throttle, client_address_key(request)
    async with signins.one_at_a_time(address):
        # Counted before the account is written, whatever comes of it, so parallel sign-ups count too.
        if wait := signins.retry_after(email, address) or request.app.state.signup_throttle.take(address):
            return _too_many(request, "signup", wait, email=email)
        try:
            user = await run_in_threadpool(
                sign_up_user, runtime.db, email, password, starting_credit=runtime.settings.signup_credit_usd
            )
        except ServiceError as error:  # a taken email with another password: a failed sign-in, and said as one
            signins.failed(email, address)
            return _auth_form(request, "signup", error=error.message, email=email, status=error.status)
    return await run_in_threadpool(_signed_in, request, user, "/dashboard/keys")


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = await optional_session(request)
    form = await read_text_form(request)
    if session is not None:
        if not csrf_matches(session, str(form.get(CSRF_FIELD, ""))):
            refused = _message("Refused", "This sign-out form expired or came from another site.")
            return HTMLResponse(refused, status_code=403)
        await run_in_threadpool(end_session, request.app.state.runtime.db, session)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
    return response
