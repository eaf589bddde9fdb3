"""Reading request bodies with caps: raw bytes, JSON objects and forms.

Every reader counts the bytes as they arrive and stops at its cap with a 413,
whether or not the client sent a ``Content-Length`` (a chunked body has
none). Text must be valid Unicode (:mod:`happyhorse.text`); JSON nests at
most :data:`~happyhorse.text.MAX_JSON_DEPTH` deep; forms are UTF-8 only
(:mod:`happyhorse.api.forms`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from happyhorse.api.forms import FilePart, FormLimits, check_utf8_charset, parse_form, size_text
from happyhorse.errors import InvalidRequest, PayloadTooLarge
from happyhorse.text import MAX_JSON_DEPTH, check_json_text

MAX_FORM_FILES = 100  # counted again by the request rules, which name the limit
UPLOAD_HINT = "send smaller images or use POST /v1/uploads"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_INLINE_JSON_BYTES = 64 * 1024
SMALL_BODY_MAX_BYTES = 64 * 1024
"""The cap of bodies without one of their own (the dashboard's forms and JSON: a few hundred bytes each)."""


async def capped_chunks(request: Request, max_bytes: int, *, hint: str = UPLOAD_HINT) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; a 413 as soon as more than ``max_bytes`` came (or were declared)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes, hint)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes, hint)
        yield chunk


async def read_limited_body(request: Request, max_bytes: int, *, hint: str = UPLOAD_HINT) -> bytes:
    return b"".join([chunk async for chunk in capped_chunks(request, max_bytes, hint=hint)])


def parse_json(body: bytes, content_type: str = "application/json") -> Any:
    """``body`` as JSON: UTF-8, no NaN/Infinity, every string and key valid Unicode, nested at most 64 deep."""
    check_utf8_charset(parse_options_header(content_type)[1].get(b"charset"), content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(
            "invalid_json", f"the body is not UTF-8 (byte 0x{body[error.start]:02x} at offset {error.start}); "
            "send JSON as UTF-8", None,
        ) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        # The C decoder guards its recursion: deeper than the interpreter allows is far past our cap.
        raise InvalidRequest(
            "json_too_deep", f"the body nests arrays and objects more than {MAX_JSON_DEPTH} deep; flatten it", None
        ) from None
    except ValueError as error:
        raise InvalidRequest("invalid_json", f"the body is not valid JSON: {error}", None) from None
    # Strictly decoded UTF-8 holds no surrogate: one can only come from a \uD800-\uDFFF escape.
    strings = _SURROGATE_ESCAPE.search(body) is not None
    if strings or body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:  # else it cannot nest too deep
        check_json_text(value, strings=strings)
    return value


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    body, content_type = await read_limited_body(request, max_bytes), request.headers.get("content-type", "")
    # Decoding and walking megabytes takes a while: not on the event loop.
    value = parse_json(body, content_type) if len(body) <= _INLINE_JSON_BYTES else \
        await run_in_threadpool(parse_json, body, content_type)
    if not isinstance(value, dict):
        raise InvalidRequest("invalid_body", "the body must be a JSON object", None)
    return value


async def read_form(
    request: Request, max_bytes: int, *, file_field: str, max_file_bytes: int | None = None
) -> tuple[dict[str, Any], list[bytes]]:
    """Fields of a multipart/urlencoded form, and the bytes of its ``file_field`` file parts.

    Repeated text fields become lists (``image`` may be given several times)."""
    limits = FormLimits(max_files=MAX_FORM_FILES, max_file_bytes=max_file_bytes,
                        max_text_bytes=None if max_file_bytes is None else data_uri_bytes(max_file_bytes))
    items = await parse_form(request.headers.get("content-type", ""), capped_chunks(request, max_bytes), limits)
    fields: dict[str, Any] = {}
    files: list[bytes] = []
    for name, value in items:
        if isinstance(value, FilePart):
            if name != file_field:
                raise InvalidRequest("unknown_field", f"unexpected file part {name!r}; send files as {file_field!r}", name)
            files.append(value.data)
        elif name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields, files


def data_uri_bytes(max_image_bytes: int) -> int:
    """The longest text field a form may need: an image of ``max_image_bytes`` as a base64 data URI."""
    return -(-max_image_bytes // 3) * 4 + 1024


async def read_text_form(request: Request, max_bytes: int = SMALL_BODY_MAX_BYTES) -> dict[str, str]:
    """A form of text fields only (the dashboard's sign-in forms): each name's first value.

    No content type and no body is an empty form (a bare ``POST /signout``)."""
    content_type, hint = request.headers.get("content-type", ""), "send a smaller form"
    if not content_type:
        if await read_limited_body(request, max_bytes, hint=hint):
            raise InvalidRequest("unsupported_content_type", "send the form as application/x-www-form-urlencoded", None)
        return {}
    items = await parse_form(content_type, capped_chunks(request, max_bytes, hint=hint),
                             FormLimits(max_fields=100, max_files=1))
    fields: dict[str, str] = {}
    for name, value in items:
        if isinstance(value, FilePart):
            raise InvalidRequest("unknown_field", f"unexpected file part {name!r}; this form takes text only", name)
        fields.setdefault(name, value)
    return fields


def too_large(max_bytes: int, hint: str = UPLOAD_HINT) -> PayloadTooLarge:
    return PayloadTooLarge("body_too_large", f"the request body is over {size_text(max_bytes)}; {hint}", None)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send a finite number")
