"""A route class for bodies FastAPI parses itself (pydantic models): capped and checked first.

FastAPI reads such a body whole, with no cap, and hands pydantic strings that
may hold lone surrogates. A router built with ``route_class=checked_body_route(max_bytes)``
reads the body through :func:`~happyhorse.api.body.read_limited_body` (a 413
past the cap, chunked or not), refuses invalid text and deep nesting in a JSON
body with the 400s of :func:`~happyhorse.api.body.parse_json`, then lets
FastAPI parse the same bytes as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from happyhorse.api.body import SMALL_BODY_MAX_BYTES, parse_json, read_limited_body


def checked_body_route(max_bytes: int = SMALL_BODY_MAX_BYTES) -> type[APIRoute]:
    """An ``APIRoute`` subclass whose requests' bodies are capped at ``max_bytes`` and checked."""

    class CheckedBodyRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def checked_handler(request: Request) -> Response:
                body = await read_limited_body(request, max_bytes, hint="send a smaller body")
                content_type = request.headers.get("content-type", "")
                if body and _is_json(content_type):
                    parse_json(body, content_type)
                return await handler(Request(request.scope, _replay(body, request)))

            return checked_handler

    return CheckedBodyRoute


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    # No content type at all: FastAPI parses the body as JSON then, so it is checked as JSON.
    return media_type in ("", "application/json") or media_type.endswith("+json")


def _replay(body: bytes, request: Request) -> Callable[[], Coroutine[Any, Any, Message]]:
    """A ``receive`` that gives ``body`` once, then the client's own messages (its disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()

    return receive
