"""Counting and timing HTTP requests: :class:`HttpMetrics`, a plain ASGI middleware.

It wraps the whole app (outside Starlette's error middleware, see
``app.install_metrics``), so it sees the status every request really got, a
500 or a 503 from an unexpected error included. ``route`` is the matched
route's path template (``/v1/jobs/{job_id}``), never the raw path: a request
that never reached the router (refused by a middleware) is matched against
the routes here, and one that matches none is ``other``. A request is counted
when its answer's last body message is sent (before the client has it all). The
cost per request is two clock reads and two dict lookups beside the counter and
the histogram.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from happyhorse.metrics.registry import Metrics

OTHER = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """``happyhorse_http_requests_total`` and ``happyhorse_http_request_duration_seconds`` of every request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self._requests = metrics.http_requests
        self._duration = metrics.http_request_duration
        self._routes = routes
        # Children by label values: the counter's own lookup takes a lock and checks the labels.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering
        recorded = False

        async def send_and_see(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body") and not recorded:
                # Counted before the answer's last bytes leave: a client that scrapes right after
                # an answer finds it counted.
                recorded = True
                self._record(scope, status, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            if not recorded:  # failed, or ended without a last body message
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = self._route(scope)
        method = scope["method"] if scope["method"] in _METHODS else OTHER
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = self._counters[(route, method, status)] = self._requests.labels(route, method, str(status))
        counter.inc()
        timer = self._timers.get((route, method))
        if timer is None:
            timer = self._timers[(route, method)] = self._duration.labels(route, method)
        timer.observe(seconds)

    def _route(self, scope: Scope) -> str:
        matched = scope.get("route")
        if matched is None:  # refused before routing (429, 431, a bad Host) or no route at all (404)
            matched = next((route for route in leaf_routes(self._routes) if route.matches(scope)[0] is not Match.NONE),
                           None)
        path = getattr(matched, "path", None)
        return path if isinstance(path, str) and path else OTHER


def leaf_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """``routes`` with each included router replaced by its own routes (FastAPI 0.165 keeps an
    ``app.include_router`` as one entry that matches any path; this app includes none with a prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from leaf_routes(included.routes)
        else:
            yield route
