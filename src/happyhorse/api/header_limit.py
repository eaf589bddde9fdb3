"""431 for a request whose headers are larger than the operator allows (``Settings.max_header_bytes``).

The count is the request line's target plus every header as sent
(``name: value`` and its line end), so a cap of 32 KiB means what an
operator reading a raw request would think. Servers differ in what they
accept (uvicorn with ``httptools`` takes about anything); this check holds
under any of them, and :mod:`happyhorse.api.http_guard` bounds what the
parser buffers before the headers are complete.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from happyhorse.errors import RequestHeadersTooLarge


def header_bytes(scope: Scope) -> int:
    """The size of a request's target and headers, as they were on the wire."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    return target + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class HeaderLimitMiddleware:
    """Answers 431 ``request_headers_too_large`` (and closes the connection) past ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or header_bytes(scope) <= self.max_bytes:
            await self.app(scope, receive, send)
            return
        error = RequestHeadersTooLarge(
            "request_headers_too_large",
            f"this request's headers are larger than {self.max_bytes} bytes; send fewer or smaller headers "
            "(cookies included)",
        )
        request_id = scope.get("state", {}).get("request_id")
        response = JSONResponse(error.to_dict(request_id), status_code=error.status, headers={"Connection": "close"})
        await response(scope, receive, send)
