"""Fetching an image URL without letting the caller reach anything private (SSRF).

One :func:`fetch_url` call, per RELIABILITY.md "Inputs":

1. check the URL (http/https, a host, no credentials, at most 2,048 chars);
2. resolve the host (IP literals in any inet_aton spelling are not resolved)
   and refuse unless every address is public;
3. connect to the first checked address itself: the URL's host is replaced
   by that IP, the ``Host`` header and TLS SNI keep the name, so a DNS answer
   that changes between check and connect (rebinding) cannot move the request;
4. no automatic redirects: up to 3 are followed by hand, each new URL going
   through steps 1-3 again;
5. read the body streaming, stopping at ``max_bytes`` and at the end of one
   time budget shared by every hop, connect, TLS handshake and read.

Errors are :class:`FetchError` with a stable ``code``; a submit turns them into
a 400 ``invalid_image`` (:mod:`happyhorse.inputs.url_inputs`), and the worker,
for jobs queued before URLs were fetched at submit, into a failed job.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

import httpx

from happyhorse.errors import InvalidRequest
from happyhorse.inputs import addresses
from happyhorse.inputs._deadline import DeadlineTransport

Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> IP addresses as text``; the default wraps ``socket.getaddrinfo``."""

MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]+")  # after IDNA encoding; IPv6 literals are checked apart


class FetchError(Exception):
    """A URL that could not be fetched; ``code`` is stable, ``message`` says why.

    Codes: ``invalid_image_url``, ``image_url_forbidden``, ``image_fetch_failed``,
    ``image_fetch_timeout``, ``image_too_large``, ``too_many_redirects``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"FetchError(code={self.code!r}, message={self.message!r})"


@dataclass(frozen=True)
class FetchedImage:
    """The body of a successful fetch (``bytes``). ``content_type`` is the
    server's claim, never trusted: the image checks detect the format from
    the bytes themselves."""

    bytes: bytes
    final_url: str
    content_type: str | None


def default_resolver(host: str, port: int) -> list[str]:
    """All addresses ``socket.getaddrinfo`` gives for ``host``, first-preferred first."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for *_, sockaddr in infos:
        ip = str(sockaddr[0])
        if ip not in found:
            found.append(ip)
    return found


def validate_image_url(url: str, *, param: str) -> None:
    """Submit-time syntax check of an image URL: http/https, a host, no
    credentials, at most 2,048 characters. Raises :class:`InvalidRequest`
    ``invalid_image_url`` naming ``param``. Nothing is resolved or fetched."""
    try:
        _parse(url)
    except ValueError as exc:
        raise InvalidRequest("invalid_image_url", f"{param} {exc}", param) from None


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout_seconds: float = 20.0,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    transport: httpx.BaseTransport | None = None,
) -> FetchedImage:
    """GET ``url`` under the SSRF rules of the module docstring.

    ``allow_private`` (an operator option for local use) skips only the
    public-address check; pinning, redirect, size and time limits stay.
    ``transport`` replaces the real network (tests); by default each hop gets
    a fresh connection whose every socket operation stops at the deadline.
    Raises :class:`FetchError`.
    """
    deadline = time.monotonic() + timeout_seconds
    try:
        current = _parse(url)
    except ValueError as exc:
        raise FetchError("invalid_image_url", f"image URL {exc}") from None
    for _hop in range(MAX_REDIRECTS + 1):
        targets = _checked_targets(current, resolver or default_resolver, allow_private)
        with ExitStack() as stack:
            response = _send(targets, transport, deadline, stack)
            if response.status_code in _REDIRECT_STATUSES:
                current = _redirect_target(current, response)
                continue
            if not 200 <= response.status_code < 300:
                raise FetchError(
                    "image_fetch_failed",
                    f"image URL answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
                    + "; use a URL that serves the image publicly",
                )
            content = _read_body(response, max_bytes, deadline)
            return FetchedImage(content, str(current), response.headers.get("content-type"))
    raise FetchError(
        "too_many_redirects",
        f"image URL redirected more than {MAX_REDIRECTS} times; use the image's final URL",
    )


def checked_targets(url: str, *, allow_private: bool = False, resolver: Resolver | None = None) -> list[PinnedTarget]:
    """Steps 1-2 of :func:`fetch_url` for the guard's other user (webhook delivery): ``url`` checked,
    its host resolved and every address checked; the addresses to connect to, in order, each with the
    ``Host`` header and SNI name to present. Raises :class:`FetchError` (the image codes)."""
    try:
        parsed = _parse(url)
    except ValueError as exc:
        raise FetchError("invalid_image_url", f"image URL {exc}") from None
    return _checked_targets(parsed, resolver or default_resolver, allow_private)


def _parse(url: str) -> httpx.URL:
    """The URL parsed by httpx itself (the parser that will send it), or
    :class:`ValueError` saying what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"is {len(url)} characters long; URLs may have at most {MAX_URL_LENGTH}")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parsed.scheme not in _DEFAULT_PORTS:
        raise ValueError("must start with https:// or http://")
    if not parsed.raw_host:
        raise ValueError("has no host; expected e.g. https://example.com/photo.jpg")
    if parsed.userinfo:
        raise ValueError("must not contain a user name or password")
    host = parsed.raw_host.decode("ascii")
    if ":" not in host and not _HOSTNAME.fullmatch(host):
        # httpx keeps percent-escapes in hosts; a resolver must never see them.
        raise ValueError(f"has an invalid host {host!r}; expected e.g. https://example.com/photo.jpg")
    try:
        addresses.literal_address(host)
    except ValueError as exc:
        raise ValueError(f"has an invalid host: {exc}") from None
    return parsed


@dataclass(frozen=True)
class _Target:
    """One checked address to connect to for a URL, with the name to present."""

    url: httpx.URL  # host replaced by the checked IP
    host_header: str
    sni_hostname: str | None  # None for IP literals: SNI never carries an IP


PinnedTarget = _Target
"""One checked address of a URL (``url`` with the IP as host, ``host_header``, ``sni_hostname``)."""


def _checked_targets(url: httpx.URL, resolver: Resolver, allow_private: bool) -> list[_Target]:
    host = url.raw_host.decode("ascii")
    port = url.port or _DEFAULT_PORTS[url.scheme]
    literal = addresses.literal_address(host)  # well formed: _parse checked it
    if literal is not None:
        found = [literal]
    else:
        found = _resolve(host, port, resolver)
    if not allow_private:
        for address in found:
            problem = addresses.address_problem(address)
            if problem is not None:
                if literal is None:
                    raise _no_public_address(host)
                raise FetchError(
                    "image_url_forbidden",
                    f"image URL points at {address}, {problem}; only images on the public internet can be fetched",
                )
    name = None if literal is not None else host
    shown = (name or _bracketed(literal)) + (f":{url.port}" if url.port else "")
    return [_Target(url.copy_with(host=str(a)), shown, name) for a in found]


def _resolve(host: str, port: int, resolver: Resolver) -> list[addresses.IPAddress]:
    try:
        answers = resolver(host, port)
        found = [addresses.literal_address(str(a)) for a in answers]
    except (OSError, UnicodeError, ValueError):
        raise _no_public_address(host) from None
    checked = [a for a in found if a is not None]
    if not checked or len(checked) != len(found):
        raise _no_public_address(host)
    return checked


def _no_public_address(host: str) -> FetchError:
    """One refusal, word for word, for a name that does not resolve and for one that resolves only
    privately: telling them apart would let a caller map the server's internal DNS."""
    return FetchError(
        "image_url_forbidden",
        f"image URL host {host!r} has no public address (it does not resolve, or only to private, loopback or "
        "reserved addresses); only images on the public internet can be fetched",
    )


def _send(
    targets: list[_Target], transport: httpx.BaseTransport | None, deadline: float, stack: ExitStack
) -> httpx.Response:
    """GET the first target that accepts a connection; the response (and a
    default transport) are closed when ``stack`` closes."""
    failure: Exception | None = None
    for target in targets:
        left = _left(deadline)
        extensions: dict[str, object] = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), left)}
        if target.sni_hostname is not None:
            extensions["sni_hostname"] = target.sni_hostname
        request = httpx.Request(
            "GET",
            target.url,
            headers={
                "Host": target.host_header,
                "Accept": "image/*",
                # A compressed body could inflate far past the cap within one chunk.
                "Accept-Encoding": "identity",
                "User-Agent": "happyhorse-image-fetch",
            },
            extensions=extensions,
        )
        hop_transport = transport or stack.enter_context(DeadlineTransport(deadline))
        try:
            response = hop_transport.handle_request(request)
        except httpx.ConnectError as exc:
            failure = exc  # try the next checked address
            continue
        except httpx.TimeoutException:
            raise _timed_out() from None
        except httpx.TransportError as exc:
            raise FetchError("image_fetch_failed", f"image URL could not be fetched ({exc})") from None
        stack.callback(response.close)
        return response
    raise FetchError("image_fetch_failed", f"image URL host could not be reached ({failure})")


def _redirect_target(current: httpx.URL, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise FetchError("image_fetch_failed", f"image URL answered HTTP {response.status_code} without a Location")
    try:
        # Relative to the URL as the user wrote it, never the pinned IP form.
        return _parse(str(current.join(location)))
    except (ValueError, httpx.InvalidURL) as exc:
        raise FetchError("image_url_forbidden", f"image URL redirects to a URL that {exc}") from None


def _read_body(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    if response.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
        raise FetchError("image_fetch_failed", "image URL answered with a compressed body; serve the image file as is")
    body = bytearray()
    try:
        for chunk in response.stream:
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
            if time.monotonic() > deadline:  # also stops bodies fed by a fake transport
                raise _timed_out()
    except httpx.TimeoutException:
        raise _timed_out() from None
    except httpx.TransportError as exc:
        raise FetchError("image_fetch_failed", f"image download broke off ({exc})") from None
    return bytes(body)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timed_out()
    return left


def _bracketed(address: addresses.IPAddress | None) -> str:
    return f"[{address}]" if address is not None and address.version == 6 else str(address)


def _too_large(max_bytes: int) -> FetchError:
    size = f"{max_bytes / (1024 * 1024):.1f} MB"
    return FetchError(
        "image_too_large", f"image at the URL is over the {size} limit; use a smaller or more compressed image"
    )


def _timed_out() -> FetchError:
    return FetchError(
        "image_fetch_timeout",
        "image URL did not deliver the image in time; use a faster host or upload the image",
    )
