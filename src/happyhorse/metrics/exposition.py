"""Serving the metrics: ``GET /metrics`` on the API's port (behind a token) and a separate listener.

- :func:`metrics_route`: the API's ``/metrics``, answered only to
  ``Authorization: Bearer <metrics token>`` (401 in the error envelope
  otherwise); with no token configured the API has no such route (404).
  Left out of the OpenAPI document: it is for operators, not clients.
- :func:`start_metrics_server`: prometheus_client's own HTTP server on
  ``--metrics-host``:``--metrics-port`` in a daemon thread: a separate listen
  address (keep it private), so no token.

Both serve the Prometheus text format.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from threading import Thread
from typing import Any

from prometheus_client import generate_latest, start_http_server
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from happyhorse.errors import AuthenticationFailed
from happyhorse.metrics.registry import Metrics

PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus reads (all our names are plain ones, so the text is
the same as prometheus_client's newer 1.0.0 format)."""


def render(metrics: Metrics) -> bytes:
    """The exposition text of ``metrics`` (reads the database when an API's queue gauges are included)."""
    return generate_latest(metrics.exposition)


def metrics_route(metrics: Metrics, token: str) -> Route:
    """``GET /metrics``, for the holder of ``token`` only."""
    expected = f"Bearer {token}".encode()

    async def serve_metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, expected):
            raise AuthenticationFailed("invalid_metrics_token",
                                       "GET /metrics needs Authorization: Bearer <the metrics token> "
                                       "(--metrics-token, HAPPYHORSE_METRICS_TOKEN)", None)
        body = await run_in_threadpool(render, metrics)  # the queue gauges read the database
        return Response(body, headers={"content-type": CONTENT_TYPE})

    return Route(PATH, serve_metrics, methods=["GET"], include_in_schema=False)


@dataclass
class MetricsServer:
    """A running separate listener; :meth:`close` stops it."""

    host: str
    port: int
    _server: Any
    _thread: Thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PATH}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_metrics_server(metrics: Metrics, host: str, port: int) -> MetricsServer:
    """Serve ``metrics`` on ``host:port`` (any path) in a daemon thread; ``OSError`` if the port is taken."""
    server, thread = start_http_server(port, addr=host, registry=metrics.exposition)
    return MetricsServer(host, server.server_address[1], server, thread)
