"""Slow and oversized requests, refused at the connection, whatever HTTP parser uvicorn runs.

uvicorn never times out a client that is still sending: a connection may
trickle its headers (or its body) a byte a minute and hold a socket, a task
and a buffer forever, and with ``httptools`` it accepts headers of any size
(buffered whole before the app sees them). :func:`guarded_protocol` subclasses
uvicorn's HTTP protocol class (``httptools`` when installed, else ``h11``) with
three rules, each answered in the error envelope with ``Connection: close``:

- a request's headers must all arrive within ``header_timeout`` seconds of
  the connection opening, or of the request's first byte on a kept-alive
  connection: else 408 ``request_timeout`` (a connection that sent nothing of
  its request is closed silently, as browsers keep idle pre-connects);
- while a request body is arriving, ``body_timeout`` seconds without a byte
  end it: 408 if the answer has not started, else the connection closes
  (the app's ``receive`` then reports a disconnect);
- more than ``max_header_bytes`` bytes received before the headers end: 431
  ``request_headers_too_large``. :mod:`happyhorse.api.header_limit` checks the
  exact size of complete headers in the app; this bound keeps the parser's
  buffer small while they are still arriving.

Time spent while the server itself stopped reading (the app has not consumed
the body it was sent yet) never counts against the client.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from happyhorse.errors import RequestHeadersTooLarge, RequestTimeout, ServiceError

log = logging.getLogger("happyhorse.api")


@dataclass(frozen=True)
class HttpLimits:
    """What a connection may take (see the module docstring); the defaults are a careful operator's."""

    max_header_bytes: int = 32 * 1024
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0


def guarded_protocol(limits: HttpLimits, base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class ``base`` (default: what its ``http="auto"`` picks) with ``limits`` enforced."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    return type(f"Guarded{base.__name__}", (_ConnectionGuard, base), {"limits": limits})


class _ConnectionGuard:
    """Mixed in before a uvicorn HTTP protocol class; uses only what both of its implementations have
    (``transport``, ``flow``, ``cycle``, ``server_state``, ``data_received``)."""

    limits: HttpLimits
    transport: asyncio.Transport
    flow: Any
    cycle: Any
    server_state: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._loop = asyncio.get_running_loop()
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = 0.0
        self._known_cycle: Any = None
        self._last_data_at = self._loop.time()
        self._headers_since: float | None = self._last_data_at  # the first request's headers are awaited now
        self._header_bytes = 0
        self._arm_watchdog()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        now = self._loop.time()
        self._last_data_at = now
        if self._headers_since is None and self._between_requests():
            self._headers_since = now  # the first byte of the next request on a kept-alive connection
            self._header_bytes = 0
        super().data_received(data)  # type: ignore[misc]
        if self.transport.is_closing():
            return
        if self.cycle is not self._known_cycle:  # the parser finished a request's headers
            self._known_cycle = self.cycle
            self._headers_since = None
        elif self._headers_since is not None:
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(RequestHeadersTooLarge(
                    "request_headers_too_large",
                    f"this request's headers are larger than {self.limits.max_header_bytes} bytes; "
                    "send fewer or smaller headers (cookies included)"))
                return
        self._arm_watchdog()

    def _between_requests(self) -> bool:
        return self.cycle is None or not self.cycle.more_body

    def _deadline(self) -> float | None:
        if self._headers_since is not None:
            return self._headers_since + self.limits.header_timeout_seconds
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.disconnected:
            return self._last_data_at + self.limits.body_timeout_seconds
        return None  # the app is answering, or the connection is idle (uvicorn's keep-alive timeout)

    def _arm_watchdog(self) -> None:
        deadline = self._deadline()
        if deadline is None or (self._watchdog is not None and self._watchdog_at <= deadline):
            return  # nothing to watch, or a check comes sooner and will re-arm
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = self._loop.call_at(deadline, self._on_watchdog)
        self._watchdog_at = deadline

    def _on_watchdog(self) -> None:
        self._watchdog = None
        if self.transport.is_closing():
            return
        now = self._loop.time()
        if self._headers_since is None and self.flow.read_paused:
            self._last_data_at = now  # we stopped reading (the app has not taken the body yet), not the client
        deadline = self._deadline()
        if deadline is None:
            return
        if now < deadline:
            self._arm_watchdog()
            return
        self._time_out()

    def _time_out(self) -> None:
        if self._headers_since is not None:
            if self._header_bytes == 0:
                self.transport.close()  # nothing of a request arrived: an idle connection, no answer owed
                return
            self._refuse(RequestTimeout(
                "request_timeout",
                f"this request's headers did not all arrive within {self.limits.header_timeout_seconds:g} s; "
                "send them at once"))
            return
        cycle = self.cycle
        cycle.disconnected = True  # the app's receive() now reports a disconnect; its sends are dropped
        cycle.message_event.set()
        if cycle.response_started:
            self.transport.close()
            return
        self._refuse(RequestTimeout(
            "request_timeout",
            f"no byte of this request's body arrived for {self.limits.body_timeout_seconds:g} s; "
            "send the body without pauses"))

    def _refuse(self, error: ServiceError) -> None:
        """Answer ``error`` in the error envelope, outside the app, and close the connection."""
        request_id = "req_" + os.urandom(12).hex()
        body = json.dumps(error.to_dict(request_id)).encode()
        lines = [f"HTTP/1.1 {error.status} {http.HTTPStatus(error.status).phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [b"content-type: application/json", b"content-length: " + str(len(body)).encode(),
                  b"x-request-id: " + request_id.encode(), b"connection: close"]
        log.info("refused a connection's request: %d %s (request %s)", error.status, error.code, request_id)
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()
