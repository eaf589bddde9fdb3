"""One signed POST of a webhook payload, through the egress guard of image fetching.

The URL is checked again at every attempt (a name may have come to resolve to a
private address since registration) and the request goes to the checked address
itself (``Host`` and SNI keep the name). No redirect is followed (a 3xx is a
failure), one time budget covers connect, send and read, and at most
``MAX_BODY_BYTES`` of the answer are read.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx

from happyhorse.inputs._deadline import DeadlineTransport
from happyhorse.inputs.fetch import FetchError, Resolver, checked_targets
from happyhorse.webhooks.signing import signed_headers

MAX_BODY_BYTES = 4096
"""The most of a receiver's answer that is read (and kept, shortened, in ``last_error``)."""


@dataclass(frozen=True)
class Attempt:
    """What one POST gave: the status code (None when no answer came) and, unless 2xx, why it failed."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def payload(event_id: str, event_type: str, created_at: float, job_id: str | None) -> bytes:
    """The body of an event, as OpenAI sends it: ``{"id", "object", "created_at", "type", "data": {"id"}}``."""
    body: dict[str, Any] = {"id": event_id, "object": "event", "created_at": int(created_at), "type": event_type,
                            "data": {"id": job_id}}
    return json.dumps(body, separators=(",", ":")).encode()


def post_event(
    url: str, secret: str, event_id: str, body: bytes, *, timeout_seconds: float, allow_private: bool,
    resolver: Resolver | None = None, transport: httpx.BaseTransport | None = None,
) -> Attempt:
    """POST ``body`` to ``url`` signed with ``secret`` (``webhook-id`` = ``event_id``). Never raises
    for anything the receiver or the network does: the outcome is the :class:`Attempt`."""
    deadline = time.monotonic() + timeout_seconds
    try:
        targets = checked_targets(url, allow_private=allow_private, resolver=resolver)
    except FetchError as exc:
        return Attempt(None, "refused by the egress guard: " + exc.message.replace("image URL", "webhook URL"))
    headers = {
        "Content-Type": "application/json", "User-Agent": "happyhorse-webhooks", "Accept-Encoding": "identity",
        **signed_headers(secret, event_id, int(time.time()), body),
    }
    failure = "no address to connect to"
    for target in targets:
        left = deadline - time.monotonic()
        if left <= 0:
            return Attempt(None, f"timed out after {timeout_seconds:g}s")
        extensions: dict[str, object] = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), left)}
        if target.sni_hostname is not None:
            extensions["sni_hostname"] = target.sni_hostname
        request = httpx.Request("POST", target.url, headers={"Host": target.host_header, **headers}, content=body,
                                extensions=extensions)
        with ExitStack() as stack:
            sender = transport or stack.enter_context(DeadlineTransport(deadline))
            try:
                response = sender.handle_request(request)
                stack.callback(response.close)
                answer = _read_some(response)
            except httpx.ConnectError as exc:
                failure = f"could not connect ({exc})"
                continue  # the next checked address
            except httpx.TimeoutException:
                return Attempt(None, f"timed out after {timeout_seconds:g}s")
            except httpx.TransportError as exc:
                return Attempt(None, f"the connection broke off ({exc})")
        code = response.status_code
        if 200 <= code < 300:
            return Attempt(code, None)
        if 300 <= code < 400:
            return Attempt(code, f"answered a redirect ({code}) to {response.headers.get('location', '?')!r}; "
                                 "redirects are not followed: register the final URL")
        return Attempt(code, f"answered HTTP {code}: {answer.decode('utf-8', 'replace')[:500]}")
    return Attempt(None, failure)


def _read_some(response: httpx.Response) -> bytes:
    """At most ``MAX_BODY_BYTES`` of the body; the rest is never read (the connection is closed)."""
    body = bytearray()
    for chunk in response.stream:
        body += chunk
        if len(body) >= MAX_BODY_BYTES:
            break
    return bytes(body[:MAX_BODY_BYTES])
