"""Parsing form bodies strictly: ``multipart/form-data`` and ``application/x-www-form-urlencoded``.

Starlette's own form parser decodes text that is not UTF-8 as latin-1 or
U+FFFD, honours any ``charset`` (``utf-7`` included), and buffers file parts
whole. This one reads the body as it streams in (the caller caps the stream,
see :mod:`happyhorse.api.body`), keeps file parts in memory up to a per-file
cap, and accepts one charset: every field name and text value must be UTF-8,
else a 400 ``invalid_text`` naming the field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from happyhorse.errors import InvalidRequest, PayloadTooLarge
from happyhorse.text import escaped

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class FormLimits:
    max_fields: int = 1000
    max_files: int = 100
    max_file_bytes: int | None = None
    """The largest file part; a bigger one is a 413 ``image_too_large`` naming the part."""
    max_text_bytes: int | None = None
    """The largest text value (multipart part or urlencoded value); a bigger one is a 413 ``field_too_large``:
    a text field is held whole, so without it one field could take the whole body cap, and then copies of it."""


@dataclass(frozen=True)
class FilePart:
    data: bytes


FormItem = tuple[str, str | FilePart]


async def parse_form(content_type: str, chunks: AsyncIterator[bytes], limits: FormLimits) -> list[FormItem]:
    """The form's ``(name, value)`` items in order; a value is text, or a :class:`FilePart`
    for a part with a filename."""
    media_type, params = parse_options_header(content_type)
    check_utf8_charset(params.get(b"charset"), content_type)
    if media_type == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise InvalidRequest("invalid_form", "the multipart/form-data content type has no boundary", None)
        return await _parse_multipart(boundary, chunks, limits)
    if media_type == b"application/x-www-form-urlencoded":
        return _parse_urlencoded(b"".join([chunk async for chunk in chunks]), limits)
    raise InvalidRequest("unsupported_content_type", f"send {' or '.join(FORM_TYPES)}, not {content_type!r}", None)


def check_utf8_charset(charset: bytes | str | None, content_type: str) -> None:
    """A 400 ``unsupported_charset`` unless ``charset`` is absent or UTF-8: the only text encoding we read."""
    if charset is None:
        return
    name = charset.decode("latin-1") if isinstance(charset, bytes) else charset
    if name.strip().lower() not in ("utf-8", "utf8"):
        raise InvalidRequest(
            "unsupported_charset",
            f"content type {escaped(content_type)!r} names charset {escaped(name)!r}; send text as UTF-8 "
            f"(charset=utf-8, or no charset)",
            None,
        )


def decode_text(data: bytes, param: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(
            "invalid_text",
            f"{param} is not valid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}); "
            "send form text as UTF-8",
            param,
        ) from None


def _name_of(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        shown = raw.decode("utf-8", "backslashreplace")
        raise InvalidRequest(
            "invalid_text", f"the field name {shown!r} is not valid UTF-8; send field names as UTF-8", shown
        ) from None


def _parse_urlencoded(body: bytes, limits: FormLimits) -> list[FormItem]:
    items: list[FormItem] = []
    for pair in body.split(b"&"):
        if not pair:
            continue
        if len(items) >= limits.max_fields:
            raise _too_many("fields", limits.max_fields)
        raw_name, _, raw_value = pair.partition(b"=")
        name = _name_of(unquote_to_bytes(raw_name.replace(b"+", b" ")))
        if limits.max_text_bytes is not None and len(raw_value) > 3 * limits.max_text_bytes:  # %XX: 3 bytes each
            raise _text_too_large(name, limits.max_text_bytes)
        value = unquote_to_bytes(raw_value.replace(b"+", b" "))
        if limits.max_text_bytes is not None and len(value) > limits.max_text_bytes:
            raise _text_too_large(name, limits.max_text_bytes)
        items.append((name, decode_text(value, name)))
    return items


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_name: bytes = b""
    header_value: bytes = b""
    name: str = ""
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


class _MultipartCollector:
    """python-multipart's callbacks, gathering parts as :data:`FormItem` s within ``limits``."""

    def __init__(self, limits: FormLimits) -> None:
        self.limits = limits
        self.items: list[FormItem] = []
        self.part = _Part()
        self.files = self.fields = 0
        self.ended = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data, "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field, "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end, "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.part.header_name.strip().lower()] = self.part.header_value.strip()
        self.part.header_name = self.part.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b"").decode("latin-1"))
        if b"name" not in options:
            raise InvalidRequest("invalid_form", 'a multipart part has no Content-Disposition "name"', None)
        self.part.name = _name_of(options[b"name"])
        self.part.is_file = b"filename" in options
        if self.part.is_file:
            self.files += 1
            if self.files > self.limits.max_files:
                raise _too_many("files", self.limits.max_files)
        else:
            self.fields += 1
            if self.fields > self.limits.max_fields:
                raise _too_many("fields", self.limits.max_fields)
            part_type = self.part.headers.get(b"content-type", b"").decode("latin-1")
            check_utf8_charset(parse_options_header(part_type)[1].get(b"charset"), part_type)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.part.data += data[start:end]
        if self.part.is_file:
            cap = self.limits.max_file_bytes
            if cap is not None and len(self.part.data) > cap:
                limit = size_text(cap)
                raise PayloadTooLarge(
                    "image_too_large", f"{self.part.name} is over {limit}; images must be at most {limit}",
                    self.part.name,
                )
        elif self.limits.max_text_bytes is not None and len(self.part.data) > self.limits.max_text_bytes:
            raise _text_too_large(self.part.name, self.limits.max_text_bytes)

    def on_part_end(self) -> None:
        part = self.part
        value = FilePart(bytes(part.data)) if part.is_file else decode_text(bytes(part.data), part.name)
        self.items.append((part.name, value))

    def on_end(self) -> None:
        self.ended = True


async def _parse_multipart(boundary: bytes, chunks: AsyncIterator[bytes], limits: FormLimits) -> list[FormItem]:
    collector = _MultipartCollector(limits)
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as error:
        raise InvalidRequest("invalid_form", f"the multipart body is malformed: {error}", None) from None
    if not collector.ended:
        raise InvalidRequest("invalid_form", "the multipart body ends before its closing boundary", None)
    return collector.items


def size_text(n: int) -> str:
    """``10 MB``, ``64 KB``, ``10.1 MB``: a cap as a person reads it."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _text_too_large(name: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "field_too_large", f"the form field {escaped(name)!r} is over {size_text(limit)}; send images as file "
        "parts or upload them (POST /v1/uploads)", escaped(name),
    )


def _too_many(what: str, limit: int) -> InvalidRequest:
    return InvalidRequest("invalid_form", f"the form has more than {limit} {what}", None)
