"""Reading the one cookie we own out of a ``Cookie`` header, in linear time.

``http.cookies.SimpleCookie`` and Starlette's ``request.cookies`` (which
unquotes every value with ``http.cookies._unquote``) are quadratic in
backslashes on Python < 3.11.10 (CVE-2024-7592): one request with a cookie of
40,000 backslashes held the event loop for seconds. This parser never
unquotes: it splits on ``;`` once, compares names, and strips the optional
double quotes around the value. The values we set (session tokens, CSRF
tokens) are URL-safe base64, so they never need unescaping; a value that
does (a backslash inside quotes) is returned as it is and simply matches no
session.

FastAPI itself reads ``request.cookies`` while solving any route's
dependencies, so every route would still unquote every cookie:
:func:`install_linear_unquote` gives ``http.cookies`` the linear ``_unquote``
of the CPython fix (3.11.10, 3.12.6) on a Python that lacks it.
"""

from __future__ import annotations

import http.cookies
import re
from collections.abc import Iterable

from starlette.requests import HTTPConnection

# CPython's fix for CVE-2024-7592 (gh-123067), verbatim in behaviour: one pass over the value.
_UNQUOTE_SUB = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))").sub


def install_linear_unquote() -> bool:
    """Replace ``http.cookies._unquote`` by the fixed, linear one if this Python has the quadratic one
    (SimpleCookie and Starlette's cookie parser both call it); True if it was replaced."""
    if hasattr(http.cookies, "_unquote_sub"):  # the fixed module (3.11.10+, 3.12.6+, 3.13+)
        return False
    http.cookies._unquote = _linear_unquote  # type: ignore[attr-defined]
    http.cookies._unquote_sub = _UNQUOTE_SUB  # type: ignore[attr-defined]  # marks the module as fixed
    return True


def _linear_unquote(value: str | None) -> str | None:
    if value is None or len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _UNQUOTE_SUB(lambda m: chr(int(m[1], 8)) if m[1] else m[2], value[1:-1])


def cookie_from_header(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in one ``Cookie`` header value, or None.

    The first cookie of that name wins, as browsers send the most specific
    path first (RFC 6265 §5.4)."""
    for pair in header.split(";"):
        key, equals, value = pair.partition("=")
        if equals and key.strip() == name:
            return _without_quotes(value.strip())
    return None


def cookie_value(headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    """The value of cookie ``name`` in raw ASGI headers (every ``Cookie`` header, in order), or None."""
    for key, value in headers:
        if key == b"cookie":
            found = cookie_from_header(value.decode("latin-1"), name)
            if found is not None:
                return found
    return None


def request_cookie(connection: HTTPConnection, name: str) -> str | None:
    """The value of cookie ``name`` sent with this request (never ``request.cookies``: see the module docstring)."""
    return cookie_value(connection.scope["headers"], name)


def _without_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value
