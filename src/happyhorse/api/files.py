"""``GET``/``HEAD /files/{key}``: serve stored outputs to whoever holds a signed URL.

The URL's ``expires`` and ``sig`` are the only credential (no API key), so a
``<video src>`` tag or a download link works as is. Byte ranges are honoured
(RFC 9110 §14) so browsers can seek in a video.

Needs ``app.state.storage`` (a :class:`~happyhorse.storage.Storage`) and
``app.state.signer`` (a :class:`~happyhorse.storage.UrlSigner`). Errors are
raised as :class:`~happyhorse.errors.ServiceError` for the app's handler to
render in the error envelope.

Starlette's ``FileResponse`` is not used even for local files: it answers a
malformed ``Range`` with 400 where RFC 9110 says to ignore it, and one code
path over :meth:`Storage.open_range` serves every backend alike.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from happyhorse.errors import Forbidden, NotFound, RangeNotSatisfiable
from happyhorse.storage.base import ObjectNotFound, Storage, StoredObject
from happyhorse.storage.signing import SignatureExpired, SignatureInvalid, UrlSigner

router = APIRouter()

_FRESH_URL_HINT = "fetch the job again (GET /v1/jobs/{id}) or use /v1/jobs/{id}/content for a fresh URL"
# A single range is at most ~45 characters; a longer header is ignored (a full 200) unread.
MAX_RANGE_HEADER_CHARS = 200
# Digits capped so int() never meets a pathological length.
_MAX_RANGE_DIGITS = 19


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive ``(start, end)`` that a ``Range`` header asks of a ``size``-byte file.

    ``None`` means "ignore the header and send everything": it is malformed,
    not in bytes, or asks for several ranges (which RFC 9110 lets a server
    answer in full). Raises :class:`RangeNotSatisfiable` for a well-formed
    range that selects no byte of the file.
    """
    bounds = _single_range_bounds(header)
    if bounds is None:
        return None
    first, last = bounds
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None  # "bytes=5-2" is invalid syntax, not unsatisfiable.
        if start >= size:
            raise _unsatisfiable(size)
        return start, min(end, size - 1)
    if not last:
        return None  # "bytes=-" names no range at all.
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise _unsatisfiable(size)
    return max(0, size - suffix), size - 1


def _single_range_bounds(header: str) -> tuple[str, str] | None:
    """The two digit strings of ``bytes = FIRST - LAST`` (each may be empty), or None.

    Plain splits, no regular expression: a pattern of optional spaces around
    optional digits backtracked quadratically on ``bytes=`` + 64,000 spaces."""
    if len(header) > MAX_RANGE_HEADER_CHARS:
        return None
    unit, equals, spec = header.partition("=")
    first, dash, last = spec.partition("-")
    if not equals or not dash or unit.strip().lower() != "bytes":
        return None
    first, last = first.strip(), last.strip()
    if not (_is_range_number(first) and _is_range_number(last)):
        return None  # e.g. several ranges ("0-1,5-6"), or not digits
    return first, last


def _is_range_number(text: str) -> bool:
    return text == "" or (len(text) <= _MAX_RANGE_DIGITS and text.isascii() and text.isdigit())


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        "range_not_satisfiable",
        f"the requested byte range is outside the file, which is {size} bytes long",
        headers={"Content-Range": f"bytes */{size}"},
    )


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
def get_file(
    key: str,
    request: Request,
    expires: Annotated[str | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    """Serve the object under ``key`` if ``expires``/``sig`` sign it and have not expired."""
    signer: UrlSigner = request.app.state.signer
    storage: Storage = request.app.state.storage
    expires_at = _verify(signer, key, expires, sig)
    info = _stat(storage, key)
    headers = _base_headers(info, key, expires_at)

    if info.etag is not None and _etag_matches(request.headers.get("if-none-match"), info.etag):
        return Response(status_code=304, headers=headers)

    byte_range = _requested_range(request, info)
    if byte_range is None:
        start, end, status = 0, info.bytes - 1, 200
    else:
        (start, end), status = byte_range, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.bytes}"
    headers["Content-Length"] = str(end - start + 1)

    if request.method == "HEAD" or end < start:  # end < start: an empty file, nothing to stream
        return Response(status_code=status, headers=headers)
    try:
        chunks = storage.open_range(key, start, end)
    except (ObjectNotFound, ValueError):
        # Deleted or replaced between stat and open: as if it had never been there.
        raise _missing() from None
    return StreamingResponse(chunks, status_code=status, headers=headers)


def _verify(signer: UrlSigner, key: str, expires: str | None, sig: str | None) -> int:
    try:
        return signer.verify(key, expires, sig)
    except SignatureExpired as exc:
        when = datetime.fromtimestamp(exc.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise Forbidden("url_expired", f"this file URL expired at {when}; {_FRESH_URL_HINT}") from None
    except SignatureInvalid as exc:
        raise Forbidden("invalid_signature", f"this file URL is not validly signed ({exc}); {_FRESH_URL_HINT}") from None


def _stat(storage: Storage, key: str) -> StoredObject:
    try:
        return storage.stat(key)
    except (ObjectNotFound, ValueError):
        raise _missing() from None


def _missing() -> NotFound:
    return NotFound("file_not_found", "no file is stored at this URL; it may have been deleted")


def _base_headers(info: StoredObject, key: str, expires_at: int) -> dict[str, str]:
    # A cache may keep the bytes exactly as long as the URL that fetched them works.
    max_age = max(0, expires_at - int(time.time()))
    filename = key.rsplit("/", 1)[-1]
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": info.content_type,
        "Cache-Control": f"private, max-age={max_age}",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename, safe='')}",
        # Never let a browser reinterpret a stored file as something more dangerous.
        "X-Content-Type-Options": "nosniff",
    }
    if info.etag is not None:
        headers["ETag"] = info.etag
    return headers


def _requested_range(request: Request, info: StoredObject) -> tuple[int, int] | None:
    header = request.headers.get("range")
    if header is None:
        return None
    if_range = request.headers.get("if-range")
    # If-Range needs a strong match; we send no Last-Modified, so a date never matches.
    if if_range is not None and (info.etag is None or if_range.strip() != info.etag or info.etag.startswith("W/")):
        return None
    return parse_range(header, info.bytes)


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 prescribes for If-None-Match."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))
