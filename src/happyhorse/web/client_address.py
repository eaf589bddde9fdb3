"""The client address that sign-up and sign-in limits are counted under.

It is ``request.client.host``: the peer, or the address uvicorn took from
``X-Forwarded-For`` when the peer is a proxy the operator trusts. An IPv6
client counts as its whole /64, since one host is usually given a /64 and can
pick any address in it; an IPv4-mapped IPv6 address counts as the IPv4 one.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

IPV6_PREFIX_BITS = 64


def client_address_key(request: Request) -> str:
    """The name the limits count this request's client under (``""`` when the server has no peer address)."""
    return address_key(request.client.host if request.client else "")


def address_key(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP (a Unix socket, a test client): counted as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX_BITS), strict=False))
    return str(address)
