"""Which IP addresses an image fetch may connect to, and which URL hosts are IPs.

Two questions the SSRF guard of :mod:`happyhorse.inputs.fetch` asks:

* :func:`literal_address` - does a URL host denote an IP address by itself?
  Hosts are read the way libc ``inet_aton`` reads them, so ``2130706433``,
  ``0x7f.1``, ``017700000001`` and ``127.1`` are all 127.0.0.1 here too, and a
  numeric-looking host that is no valid address is refused rather than handed
  to a resolver that might read it differently.
* :func:`address_problem` - is an address on the public internet? Anything
  else (loopback, private, link-local, metadata, multicast, reserved, CGNAT,
  NAT64, 6to4, ...) is named so the error can say why it was refused.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# First match wins; the label completes "… is <label>". Python's is_global has
# gaps (multicast, 64:ff9b::/96, 2002::/16 and the ::/96 range count as
# global in 3.11), hence the explicit list in front of it.
_DENIED: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = [
    (ipaddress.ip_network(net), label)
    for net, label in [
        ("169.254.169.254/32", "a cloud metadata address"),
        ("fd00:ec2::254/128", "a cloud metadata address"),
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("169.254.0.0/16", "a link-local address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b::/96", "a NAT64 address"),
        ("64:ff9b:1::/48", "a NAT64 address"),
        ("2002::/16", "a 6to4 address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    ]
]

_DECIMAL = re.compile(r"[1-9][0-9]*")
_OCTAL = re.compile(r"0[0-7]*")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
# WHATWG URL rule: a host whose last label is a number must be an IPv4 address.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` (as in a URL, IPv6 without brackets) denotes by
    itself, or ``None`` when it is a name to resolve.

    Raises :class:`ValueError` for a host that looks numeric but is no valid
    address (``1.2.3.4.5``, ``256.1.1.1``, ``0x1g``).
    """
    if ":" in host:
        return ipaddress.IPv6Address(host)  # ValueError when malformed
    bare = host[:-1] if host.endswith(".") else host  # "127.0.0.1." is absolute, same address
    address = _inet_aton(bare)
    if address is not None:
        return address
    if _NUMERIC_LABEL.fullmatch(bare.rsplit(".", 1)[-1]):
        raise ValueError(f"{host!r} looks like an IP address but is not a valid one")
    return None


def address_problem(address: IPAddress) -> str | None:
    """``None`` when ``address`` is a public internet address, else what it is
    (e.g. ``"a loopback address"``). IPv4-mapped and IPv4-compatible IPv6
    addresses are judged by the IPv4 address inside them."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_problem(embedded)
        address = ipaddress.IPv6Address(address.packed)  # drop any %zone
    for network, label in _DENIED:
        if address.version == network.version and address in network:
            return label
    if not address.is_global or address.is_multicast or address.is_reserved:
        return "not a public internet address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return address.ipv4_mapped
    as_int = int(address)
    if as_int >> 32 == 0 and as_int > 1:  # ::a.b.c.d ("IPv4-compatible"), not :: or ::1
        return ipaddress.IPv4Address(as_int)
    return None


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """``text`` read as glibc ``inet_aton`` reads it: 1 to 4 parts, each
    decimal, octal (leading 0) or hex (0x); the last part fills the remaining
    bytes. ``None`` when it is not such a number."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        if _HEX.fullmatch(part):
            values.append(int(part[2:] or "0", 16))
        elif _OCTAL.fullmatch(part):
            values.append(int(part, 8))
        elif _DECIMAL.fullmatch(part):
            values.append(int(part))
        else:
            return None
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = last
    for i, value in enumerate(leading):
        number |= value << (8 * (3 - i))
    return ipaddress.IPv4Address(number)
