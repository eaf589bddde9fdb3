"""Which ``Host`` headers this server answers (``Settings.allowed_hosts``), so output URLs cannot be steered.

Without ``--public-url`` the signed output URLs, the ``/content`` redirect and
the dashboard's links are built from the request's own ``Host`` header. A
client (or a DNS-rebinding web page aimed at a server on loopback) that sends
``Host: evil.example`` would otherwise get URLs to a host of its choosing. A
request naming a host not on the list is answered 400 ``host_not_allowed``.

The list holds host names or addresses (``api.example.com``, ``127.0.0.1``,
``[::1]``), ports ignored; ``.example.com`` also allows its subdomains; ``*``
allows any host (no check). ``None`` (the library default, used by tests that
build an app by hand) checks nothing; ``happyhorse serve`` and ``api`` always
set a list (see :func:`default_allowed_hosts`). ``/healthz`` is exempt: load
balancers probe it by address, and it builds no URL.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from happyhorse.errors import InvalidRequest

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_WILDCARD_BINDS = ("", "0.0.0.0", "::", "[::]")
_EXEMPT_PATHS = frozenset({"/healthz"})
# A host name or IPv4 address, or a bracketed IPv6 one, then an optional port: nothing else can follow
# (``localhost:8000@evil.example`` would pass a check of what comes before the colon, and output URLs
# built from it would point at evil.example). The two parts share no character: linear to match.
_HOST_HEADER = re.compile(r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._-]{1,253})(?::[0-9]{1,5})?")


def well_formed_host(host_header: str) -> bool:
    """Whether a ``Host`` header is a host and an optional port, and nothing else."""
    return _HOST_HEADER.fullmatch(host_header) is not None


def default_allowed_hosts(bind_host: str, public_url: str | None) -> tuple[str, ...]:
    """What ``serve``/``api`` accept without ``--allowed-hosts``: the public URL's host, the address the
    server is bound to (the machine's host name when bound to every interface) and the loopback names."""
    hosts: list[str] = []
    if public_url:
        hosts.append(_bracketed(urlsplit(public_url).hostname or ""))
    if bind_host.strip().lower() in _WILDCARD_BINDS:
        hosts += [socket.gethostname(), *_own_addresses()]
    else:
        hosts.append(_bracketed(bind_host))
    hosts += LOOPBACK_HOSTS
    return tuple(dict.fromkeys(host.lower() for host in hosts if host))


def _own_addresses() -> list[str]:
    """This machine's addresses as its host name resolves (a container's own IP, most often), bracketed
    for IPv6: clients that reach a server bound to every interface by its address are answered."""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        return []
    return sorted(_bracketed(address.partition("%")[0]) for address in found)


def parse_allowed_hosts(text: str) -> tuple[str, ...]:
    """``--allowed-hosts`` (comma-separated) as the list :class:`AllowedHostsMiddleware` takes."""
    return tuple(dict.fromkeys(part.strip().lower().rstrip(".") for part in text.split(",") if part.strip()))


def host_name(host_header: str) -> str:
    """The host of a ``Host`` header without its port: ``[::1]:8000`` → ``[::1]``, ``a.b:80`` → ``a.b``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0].rstrip(".")


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    for pattern in allowed:
        if pattern == "*" or host == pattern or (pattern.startswith(".") and host.endswith(pattern)):
            return True
    return False


class AllowedHostsMiddleware:
    """400 ``host_not_allowed`` for a request whose ``Host`` is not on ``allowed`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        sent = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"host"), None)
        if sent is not None and not well_formed_host(sent):
            error = InvalidRequest(
                "invalid_host", "the Host header must be a host name or address with an optional :port, "
                "and nothing else", None,
            )
            await self._refuse(scope, receive, send, error)
            return
        if sent is None or host_allowed(host_name(sent), self.allowed):  # no Host (HTTP/1.0): the bind address is used
            await self.app(scope, receive, send)
            return
        error = InvalidRequest(
            "host_not_allowed",
            f"this server does not answer to the host {host_name(sent)[:100]!r} (it answers to "
            f"{', '.join(self.allowed)}); its operator can add it with --allowed-hosts (HAPPYHORSE_ALLOWED_HOSTS) "
            "or set --public-url",
            None,
        )
        await self._refuse(scope, receive, send, error)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, error: InvalidRequest) -> None:
        request_id = scope.get("state", {}).get("request_id")
        await JSONResponse(error.to_dict(request_id), status_code=error.status)(scope, receive, send)


def _bracketed(host: str) -> str:
    """An IPv6 address as a ``Host`` header writes it."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
