"""``data:image/<subtype>;base64,<payload>`` URIs (SPEC §3) turned into bytes.

The declared subtype is not trusted: the bytes are checked by
:func:`happyhorse.inputs.images.inspect_image`, which detects the format itself.
"""

from __future__ import annotations

import binascii
import re

from happyhorse.errors import InvalidRequest, PayloadTooLarge

_EXPECTED = "data:image/<type>;base64,<base64 data>, e.g. data:image/png;base64,iVBORw0KGgo..."
_PREFIX = re.compile(r"data:image/([a-z0-9][a-z0-9.+-]{0,63});base64,", re.IGNORECASE)
# Base64 text may be folded onto lines (MIME style); nothing else is tolerated.
_FOLDING = " \t\r\n"
_WHITESPACE = re.compile(rb"[ \t\r\n]+")


def is_data_uri(s: str) -> bool:
    """True when ``s`` starts with the ``data:`` scheme (any case); says nothing
    about whether the rest is well formed."""
    return s[:5].lower() == "data:"


def parse_data_uri(uri: str, *, param: str, max_bytes: int) -> bytes:
    """The bytes of a ``data:image/<subtype>;base64,<payload>`` URI.

    The payload length is checked before anything is decoded, so a huge URI
    costs no more memory than the string itself. Raises
    :class:`InvalidRequest` ``invalid_data_uri`` (malformed) or
    :class:`PayloadTooLarge` ``image_too_large`` (over ``max_bytes`` decoded),
    both naming ``param``.
    """
    match = _PREFIX.match(uri)
    if match is None:
        raise _invalid(param, "does not start with data:image/<type>;base64,")
    # Measured on the URI itself: even slicing out a huge payload would copy it.
    estimate = _decoded_size_estimate(uri, match.end())
    if estimate > max_bytes:
        raise _too_large(param, estimate, max_bytes)
    payload = uri[match.end() :]
    try:
        raw = payload.encode("ascii")
    except UnicodeEncodeError:
        raise _invalid(param, "contains characters that are not base64") from None
    raw = _WHITESPACE.sub(b"", raw)
    if not raw:
        raise _invalid(param, "has no data after the comma")
    try:
        data = binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error as exc:
        raise _invalid(param, f"is not valid base64 ({exc})") from None
    if len(data) > max_bytes:  # the estimate is loose when there is whitespace
        raise _too_large(param, len(data), max_bytes)
    return data


def _decoded_size_estimate(uri: str, start: int) -> int:
    """The decoded size of the base64 text ``uri[start:]``, counted in place."""
    end = len(uri)
    while end > start and uri[end - 1] in _FOLDING:
        end -= 1
    characters = end - start - sum(uri.count(c, start, end) for c in _FOLDING)
    # Every 4 base64 characters carry 3 bytes; trailing '=' carry none.
    padding = sum(1 for i in (end - 1, end - 2) if i >= start and uri[i] == "=")
    return characters * 3 // 4 - padding


def _invalid(param: str, problem: str) -> InvalidRequest:
    return InvalidRequest("invalid_data_uri", f"{param} {problem}; expected {_EXPECTED}", param)


def _too_large(param: str, size: int, max_bytes: int) -> PayloadTooLarge:
    mb = 1024 * 1024
    return PayloadTooLarge(
        "image_too_large",
        f"{param} holds about {size / mb:.1f} MB; images must be at most {max_bytes / mb:.1f} MB",
        param,
    )
