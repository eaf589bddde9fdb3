"""The uvicorn configuration every server of ours runs with: ``happyhorse serve``/``api`` and the test server.

One place decides what reaches the app: the connection guard
(:mod:`~happyhorse.api.http_guard`: header size, header and body timeouts)
on whichever HTTP parser uvicorn picks, forwarded headers believed only from
the operator's ``trusted_proxies`` (uvicorn alone trusts 127.0.0.1, so any
local client could claim any address), and an access log without URL
signatures (:mod:`~happyhorse.api.access_log`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from happyhorse.api.access_log import uvicorn_log_config
from happyhorse.api.http_guard import HttpLimits, guarded_protocol
from happyhorse.settings import Settings

if TYPE_CHECKING:
    import uvicorn

# h11 refuses (400) incomplete headers past its own buffer limit; kept above ours so the guard's 431 comes first.
_H11_SLACK_BYTES = 64 * 1024


def http_limits(settings: Settings) -> HttpLimits:
    return HttpLimits(max_header_bytes=settings.max_header_bytes,
                      header_timeout_seconds=settings.header_timeout_seconds,
                      body_timeout_seconds=settings.body_timeout_seconds)


def uvicorn_config(app: Any, *, host: str, port: int, settings: Settings, log_level: str = "info",
                   **extra: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` on ``host:port`` with the rules of the module docstring."""
    import uvicorn

    limits = http_limits(settings)
    proxies = ",".join(settings.trusted_proxies)
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, log_config=uvicorn_log_config(settings.log_format),
        http=guarded_protocol(limits), h11_max_incomplete_event_size=limits.max_header_bytes + _H11_SLACK_BYTES,
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None, **extra,
    )


def parse_trusted_proxies(text: str | None) -> tuple[str, ...]:
    """``--trusted-proxies``: comma-separated addresses or networks (``10.0.0.0/8``), or ``*``; ValueError if bad."""
    import ipaddress

    proxies: list[str] = []
    for proxy in (part.strip() for part in (text or "").split(",") if part.strip()):
        if proxy == "*":
            proxies.append(proxy)
        elif "/" in proxy:  # normalised: uvicorn takes "10.1.2.3/8" for a name, not a network
            proxies.append(str(ipaddress.ip_network(proxy, strict=False)))
        else:
            proxies.append(str(ipaddress.ip_address(proxy)))
    return tuple(proxies)
