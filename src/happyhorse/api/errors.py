"""One error envelope for every non-2xx answer (SPEC §6), and request ids.

Handlers turn :class:`~happyhorse.errors.ServiceError`, FastAPI's own
validation errors, Starlette's HTTP errors and anything unexpected into the
same JSON shape. An unexpected exception is logged with its request id and
answered 500 ``internal_error`` without internals.

A database that is away (restarted, unreachable) is answered 503
``database_unavailable`` with ``Retry-After``: the driver's connection and
operational errors, SQLAlchemy's wrappers of them, any DBAPI error that cost
the connection, and an error raised while handling one of those (such as
SQLAlchemy's ``PendingRollbackError`` on the connection the server dropped).
"""

from __future__ import annotations

import logging
import os
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from happyhorse.db.outage import caused_by_database_outage
from happyhorse.db.outage import database_errors as _database_errors
from happyhorse.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
)
from happyhorse.logs import log_context

log = logging.getLogger("happyhorse.api")

# HTTPException's statuses as our classes: Starlette and FastAPI raise 400 (forms), 401, 404 and 405
# (routing, static files). Another status needs its class in happyhorse.errors; until then 4xx is 400, 5xx 500.
_HTTP_ERRORS: dict[int, type[ServiceError]] = {
    error.status: error
    for error in (InvalidRequest, AuthenticationFailed, Forbidden, MethodNotAllowed, Conflict, PayloadTooLarge,
                  RateLimited)
}


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


_RETRYABLE_4XX = frozenset({408, 409, 429})


def error_response(error: ServiceError, request: Request) -> JSONResponse:
    """The envelope of ``error``. A 4xx that a retry cannot fix (not 408, 409 or 429) says so with
    ``x-should-retry: false``, which the ``openai`` client (and any Stainless-built one) obeys (SPEC §9)."""
    headers = error.headers
    if 400 <= error.status < 500 and error.status not in _RETRYABLE_4XX:
        headers = {**headers, "x-should-retry": "false"}
    return JSONResponse(error.to_dict(request_id_of(request)), status_code=error.status, headers=headers)


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return error_response(exc, request)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    param = ".".join(location) or None
    message = f"{param}: {first.get('msg', 'invalid value')}" if param else first.get("msg", "invalid request")
    return error_response(InvalidRequest("invalid_parameter", message, param), request)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        error: ServiceError = NotFound("route_not_found", f"no route {request.method} {request.url.path}; see /docs", None)
    else:
        fallback = InvalidRequest if exc.status_code < 500 else ServiceError
        error = _HTTP_ERRORS.get(exc.status_code, fallback)("http_error", str(exc.detail), None)
    response = error_response(error, request)
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405 and (documented := documented_methods(request)):
        response.headers["Allow"] = ", ".join(documented)
    return response


_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def documented_methods(request: Request) -> list[str] | None:
    """The methods the API documents at the request's path (the most specific template that
    matches: ``POST /v1/videos/generations``, not ``GET /v1/videos/{video_id}``), or ``None`` for
    an undocumented path. Starlette's own ``Allow`` names only the first route that matched the
    path, while a path's methods are often separate routes (``GET`` and ``DELETE /v1/jobs/{id}``)."""
    best: tuple[int, list[str]] | None = None
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)), request.url.path):
            params = template.count("{")
            if best is None or params < best[0]:
                best = (params, [method.upper() for method in operations if method in _HTTP_METHODS])
    return best[1] if best else None


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:  # every 503 database_unavailable is one happyhorse_database_errors_total{process="api"}
        runtime.metrics.database_error("api")
    log.warning("database unavailable in %s %s (request %s): %s", request.method, request.url.path,
                request_id_of(request), exc.__class__.__name__)
    error = ServiceUnavailable(
        "database_unavailable", "the service cannot reach its database right now; retry shortly", None,
        headers={"Retry-After": "2"},
    )
    return error_response(error, request)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Any other DBAPI error: 503 if it cost the connection, else a bug (500)."""
    if getattr(exc, "connection_invalidated", False):
        return await _database_unavailable(request, exc)
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if caused_by_database_outage(exc):
        # E.g. cleanup code that tripped over the connection the server had dropped: still an
        # outage for the client (503, retry), but logged in full so the cleanup gets fixed.
        log.warning("database unavailable in %s %s (request %s), surfacing as %s", request.method, request.url.path,
                    request_id_of(request), exc.__class__.__name__, exc_info=exc)
        return await _database_unavailable(request, exc)
    log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id_of(request))
    error = ServiceError("internal_error", "the server failed to handle this request; it has been logged, please retry")
    return error_response(error, request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    # A database that is away (restart, network) is a 503 the client can retry, not a 500.
    from sqlalchemy.exc import DBAPIError

    for database_error in _database_errors():
        app.add_exception_handler(database_error, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)


class RequestIdMiddleware:
    """Gives each request an id (``req_...``), kept in ``request.state``, bound to its log lines and sent
    back as ``x-request-id``.

    A plain ASGI middleware: BaseHTTPMiddleware would cost a task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Random, not time-ordered like other ids: nothing sorts requests, and this is per request.
        request_id = "req_" + os.urandom(12).hex()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        with log_context(request_id=request_id):  # on every line this request writes (see happyhorse.logs)
            await self.app(scope, receive, send_with_id)
