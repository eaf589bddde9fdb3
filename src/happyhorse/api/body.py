"""Reading request bodies with caps: JSON objects and multipart forms."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from happyhorse.errors import InvalidRequest, PayloadTooLarge

MAX_FORM_FILES = 100  # counted again by the request rules, which name the limit


async def read_limited_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    body = await read_limited_body(request, max_bytes)
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("invalid_json", f"the body is not valid JSON: {exc}", None) from None
    if not isinstance(value, dict):
        raise InvalidRequest("invalid_body", "the body must be a JSON object", None)
    return value


async def read_form(request: Request, max_bytes: int, *, file_field: str) -> tuple[dict[str, Any], list[bytes]]:
    """Fields of a multipart/urlencoded form, and the bytes of its ``file_field`` file parts.

    Repeated text fields become lists (``image`` may be given several times)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    form = await request.form(max_files=MAX_FORM_FILES, max_fields=1000, max_part_size=max_bytes)
    fields: dict[str, Any] = {}
    files: list[bytes] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != file_field:
                    raise InvalidRequest("unknown_field", f"unexpected file part {name!r}; send files as {file_field!r}", name)
                files.append(await value.read())
            elif name in fields:
                previous = fields[name]
                fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                fields[name] = value
    finally:
        await form.close()
    return fields, files


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "body_too_large", f"the request body is over {max_bytes // (1024 * 1024)} MB; send smaller images or use POST /v1/uploads", None
    )
