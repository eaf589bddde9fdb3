"""``/docs``: Swagger UI served from this server, under its own Content-Security-Policy.

FastAPI's default page loads Swagger UI's script from a CDN on the
dashboard's origin: whoever controls that CDN (or the network path to it)
runs script where the session cookie lives. Here the Swagger UI files come
from the pinned ``fastapi-swagger`` package (the ``server`` extra) and are
served under ``/docs/assets``; the page starts them from a file
(``/static/web/swagger-init.js``), so its policy allows scripts from this
origin only. Swagger UI sets inline styles, so ``/docs`` (and only it) allows
them. ``/redoc``, which also loads from a CDN, is not served.
"""

from __future__ import annotations

import html
from functools import lru_cache
from importlib.resources import files

from fastapi import APIRouter, FastAPI
from starlette.responses import HTMLResponse, Response

from happyhorse.errors import NotFound
from happyhorse.web.static_files import STATIC_URL

ASSETS_URL = "/docs/assets"
_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
           "favicon-32x32.png": "image/png"}
DOCS_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
])


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets on ``app`` (built with ``docs_url=None, redoc_url=None``)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def docs() -> HTMLResponse:
        return HTMLResponse(_page(app.title, app.openapi_url or "/openapi.json"),
                            headers={"Content-Security-Policy": DOCS_POLICY, "Cache-Control": "no-cache"})

    @router.get(ASSETS_URL + "/{name}")
    def asset(name: str) -> Response:
        if name not in _ASSETS:
            raise NotFound("route_not_found", f"no docs asset {name!r}; see /docs", None)
        return Response(_asset(name), media_type=_ASSETS[name],
                        headers={"Cache-Control": "public, max-age=86400"})

    app.include_router(router)


def _page(title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)} · docs</title>
<link rel="icon" href="{ASSETS_URL}/favicon-32x32.png">
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{html.escape(openapi_url)}"></div>
<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
<script src="{STATIC_URL}/swagger-init.js"></script>
</body>
</html>
"""


@lru_cache(maxsize=len(_ASSETS))
def _asset(name: str) -> bytes:
    try:
        return (files("fastapi_swagger") / "resources" / name).read_bytes()
    except ModuleNotFoundError:  # a server install without the `server` extra's fastapi-swagger
        if name.endswith(".js"):
            return (b'document.getElementById("swagger-ui").textContent = '
                    b'"Swagger UI is not installed (pip install fastapi-swagger); the API document is at /openapi.json";')
        return b""
