"""An httpx transport whose every socket operation also ends at one deadline.

httpx timeouts are per operation (each read may wait the full read timeout),
so a server trickling one byte per second would never trip them. Here the
network backend clamps each connect, TLS handshake, read and write to the time
left before the deadline, which makes the fetch budget a total.
"""

from __future__ import annotations

import ssl
import time
import typing
from functools import lru_cache

import httpcore
import httpx

_BUDGET_SPENT = "the time budget for fetching the image is spent"


class DeadlineTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` (HTTP/1.1, TLS verified, no retries, no proxies)
    that gives up when ``deadline`` (a ``time.monotonic()`` value) passes."""

    def __init__(self, deadline: float) -> None:
        context = _ssl_context()
        super().__init__(verify=context, retries=0)
        # httpx builds its pool without a way to pass a network backend, so
        # the pool is rebuilt the same way with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=1,
            retries=0,
            network_backend=_DeadlineBackend(deadline),
        )


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds; a context is safe to share.
    return httpx.create_ssl_context()


def _time_left(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise error(_BUDGET_SPENT)
    return left if timeout is None else min(timeout, left)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(self._deadline, timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - fetches never use unix sockets
        raise httpcore.ConnectError("unix sockets are not used for image fetches")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - only used by retries (off)
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(self._deadline, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left), self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)
