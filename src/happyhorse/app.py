"""The FastAPI application: ``create_app(runtime)``.

Handlers stay thin (parse → one service call → dict); the app itself never
runs an engine. ``happyhorse serve`` passes ``worker`` so that one in-process
worker runs beside the API for the lifetime of the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from happyhorse import __version__
from happyhorse.api import docs_page, files
from happyhorse.api.allowed_hosts import AllowedHostsMiddleware
from happyhorse.api.errors import RequestIdMiddleware, install_error_handlers
from happyhorse.api.header_limit import HeaderLimitMiddleware
from happyhorse.api.rate_limit import RateLimitMiddleware
from happyhorse.api.shared_limits import SharedTokenBuckets, shared_limits_apply
from happyhorse.api.routes import account, events, generations, health, jobs, models, uploads
from happyhorse.api.routes import webhook_endpoints
from happyhorse.api.routes import videos
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.web import install as install_web
from happyhorse.web.cookies import install_linear_unquote
from happyhorse.web.security_headers import SecurityHeadersMiddleware

if TYPE_CHECKING:
    from happyhorse.worker import WorkerThread

DESCRIPTION = """An open, self-hostable implementation of the HappyHorse 1.1 video-generation API.

Submit a job with `POST /v1/videos/generations`, poll `GET /v1/jobs/{job_id}` until it is
`completed`, then download `result.outputs[0].url`. Every `/v1` call needs
`Authorization: Bearer <api key>`. Every error has the shape
`{"error": {"type", "code", "message", "param", "request_id"}}`.
"""

def _openapi_document(app: FastAPI) -> dict:
    """FastAPI's document, finished: the bearer scheme on every ``/v1`` operation, the
    ``x-request-id`` header on every answer, and no 422 of FastAPI's own (its validation
    errors are answered 400 in the error envelope, see ``api.errors``)."""
    if app.openapi_schema is None:
        document = FastAPI.openapi(app)
        document.setdefault("components", {})["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "an API key, `Authorization: Bearer hh_...`"}
        }
        for schema_name in ("HTTPValidationError", "ValidationError"):
            document["components"].get("schemas", {}).pop(schema_name, None)
        for path, operations in document["paths"].items():
            for operation in operations.values():
                responses = operation["responses"]
                if "HTTPValidationError" in str(responses.get("422", {})):
                    del responses["422"]
                for response in responses.values():
                    response.setdefault("headers", {})["x-request-id"] = _REQUEST_ID_HEADER
                if path.startswith("/v1/"):
                    operation["security"] = [{"apiKey": []}]
        app.openapi_schema = document
    return app.openapi_schema


_REQUEST_ID_HEADER = {
    "description": "this request's id (`req_...`), also in every error body; quote it when reporting a problem",
    "schema": {"type": "string", "pattern": "^req_[0-9a-f]{24}$"},
    "required": True,
}


def create_app(runtime: Runtime, *, worker: WorkerThread | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop_and_join()

    app = FastAPI(
        title="HappyHorse 1.1 API (happyhorse)",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's pages load Swagger UI and ReDoc from a CDN: /docs is served locally (docs_page).
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = lambda: _openapi_document(app)  # type: ignore[method-assign]
    # FastAPI parses every request's cookies; on a Python without the CVE-2024-7592 fix that is quadratic.
    install_linear_unquote()
    app.state.runtime = runtime
    app.state.storage = runtime.storage
    app.state.signer = runtime.signer
    install_error_handlers(app)
    # Added first, so it runs innermost: after the session middleware has turned a
    # browser's cookie into its per-session key, which is then limited like any key.
    if runtime.settings.rate_limit_per_second > 0:  # 0: off, and no middleware layer to cross
        rate, burst = runtime.settings.rate_limit_per_second, runtime.settings.rate_limit_burst
        # On PostgreSQL the buckets are the deployment's, shared by every API replica.
        shared = SharedTokenBuckets(runtime.db, rate, burst) if shared_limits_apply(runtime.db) else None
        app.add_middleware(RateLimitMiddleware, rate=rate, burst=burst, shared=shared)
    # The dashboard and playground; its cookie middleware runs inside the request-id one.
    install_web(app)
    install_edge_checks(app, runtime.settings)
    app.add_middleware(RequestIdMiddleware)
    # The polling endpoint first, as a plain route (see jobs.poll_job); the
    # FastAPI route of the same path stays for the OpenAPI document.
    # (Inserted at the front: the router tries routes in order, and the web
    # routes installed above would otherwise be tried first on every poll.)
    app.router.routes.insert(0, jobs.POLL_ROUTE)
    for module in (generations, jobs, events, uploads, models, account, health, files, webhook_endpoints,
                   videos):
        app.include_router(module.router)
    docs_page.install(app)
    install_metrics(app, runtime)
    return app


def install_metrics(app: FastAPI, runtime: Runtime) -> None:
    """Prometheus metrics (:mod:`happyhorse.metrics`): every request counted and timed by the outermost
    layer, the queue's gauges read from the database at scrape time, and ``GET /metrics`` when the
    operator set a metrics token (without one, no such route: 404)."""
    from happyhorse.metrics import metrics_route
    from happyhorse.metrics.http import HttpMetrics

    metrics = runtime.metrics
    metrics.watch_queue(runtime.db, runtime.settings.worker_seen_seconds)
    if runtime.settings.metrics_token:
        app.router.routes.append(metrics_route(metrics, runtime.settings.metrics_token))
    # Outside Starlette's error layer, which sends an unexpected error's answer (500, or 503 for a
    # database outage) and re-raises: app.add_middleware only adds layers inside it.
    build = app.build_middleware_stack
    app.build_middleware_stack = (  # type: ignore[method-assign]
        lambda: HttpMetrics(build(), metrics, app.router.routes))


def install_edge_checks(app: FastAPI, settings: Settings) -> None:
    """The checks every request meets first (inside the request-id layer, so refusals carry an id):
    the security headers on every answer, the Host allow-list, the header size cap."""
    app.add_middleware(HeaderLimitMiddleware, max_bytes=settings.max_header_bytes)
    if settings.allowed_hosts is not None and "*" not in settings.allowed_hosts:
        app.add_middleware(AllowedHostsMiddleware, allowed=settings.allowed_hosts)
    app.add_middleware(SecurityHeadersMiddleware, public_base_url=settings.public_base_url)
