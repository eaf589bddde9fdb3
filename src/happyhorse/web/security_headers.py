"""Security headers on every answer: a Content-Security-Policy, ``nosniff``, a referrer policy, no framing.

The dashboard is plain HTML with JavaScript modules and a stylesheet from
``/static/web``, so its policy allows scripts and styles from this origin only
(no inline script, no inline style attribute, nothing from another host), and
no page may be framed (``frame-ancestors 'none'``: no clickjacking of the key
or credit buttons). Pictures and videos may also come from blob URLs (the
playground's previews of chosen files) and from ``--public-url``'s origin when
that differs (output URLs are built on it). An answer that sets its own
``Content-Security-Policy`` (``/docs``, see :mod:`happyhorse.api.docs_page`)
keeps it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def dashboard_policy(public_base_url: str | None = None) -> str:
    """The Content-Security-Policy of every answer but ``/docs``."""
    media = "'self' blob:"
    if public_base_url:
        parts = urlsplit(public_base_url)
        if parts.scheme and parts.netloc:
            media += f" {parts.scheme}://{parts.netloc}"
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", f"img-src {media} data:",
        f"media-src {media}", "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'none'",
        "form-action 'self'", "frame-ancestors 'none'",
    ])


class SecurityHeadersMiddleware:
    """Adds the headers of the module docstring to each HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp, *, public_base_url: str | None = None) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", dashboard_policy(public_base_url).encode()),
            (b"x-content-type-options", b"nosniff"),
            # Same-origin: page addresses never leave the site; the dashboard's own calls keep theirs.
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers that predate it
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [header for header in self.headers if header[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
