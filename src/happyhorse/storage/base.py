"""The storage protocol: where finished videos and posters live.

A store maps *keys* to immutable-in-practice objects with a content type.
Keys are relative POSIX paths such as ``"outputs/job_x/video.mp4"``; every
store validates them the same way (:func:`checked_storage_key`), so a key that is
safe for one backend is safe for all of them.

Implementations: :class:`~happyhorse.storage.local.LocalStorage` (a directory,
the default) and :class:`~happyhorse.storage.memory.MemoryStorage` (the fake
for unit tests). Stores never build URLs; :mod:`happyhorse.storage.signing`
does.
"""

from __future__ import annotations

import re

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

MAX_KEY_LENGTH = 1024
CHUNK_SIZE = 64 * 1024
"""How many bytes :meth:`Storage.open_range` yields at a time, at most."""


class ObjectNotFound(KeyError):
    """No object is stored under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no object stored under key {self.key!r}"


@dataclass(frozen=True)
class StoredObject:
    """What a store knows about one object."""

    key: str
    bytes: int
    content_type: str
    etag: str | None = None
    """A strong validator, quoted as in HTTP (``'"…"'``); changes whenever the content may have."""


@dataclass(frozen=True)
class ListedObject:
    """One object as :meth:`Storage.list_objects` sees it (what an S3 listing returns)."""

    key: str
    bytes: int
    modified_at: float
    """When the object was last written, in seconds since the epoch, by the store's clock."""


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def checked_storage_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative POSIX path, else raise ``ValueError``.

    Rejected: empty keys, absolute paths, backslashes, control characters,
    empty segments (``a//b``, a trailing ``/``), and any segment starting with
    ``.`` — which covers ``.`` and ``..`` and also reserves hidden names for a
    store's own bookkeeping (temp files, sidecars), so they never collide
    with a caller's key.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"storage key longer than {MAX_KEY_LENGTH} characters")
    if key.startswith("/"):
        raise ValueError(f"storage key must be relative, got {key!r}")
    if "\\" in key:
        raise ValueError(f"storage key must not contain backslashes, got {key!r}")
    if _CONTROL_CHARACTERS.search(key):
        raise ValueError(f"storage key must not contain control characters, got {key!r}")
    for segment in key.split("/"):
        if not segment:
            raise ValueError(f"storage key must not have empty segments, got {key!r}")
        if segment.startswith("."):
            raise ValueError(f"storage key segments must not start with '.', got {key!r}")
    return key


def checked_storage_prefix(prefix: str) -> str:
    """Return ``prefix`` unchanged if some valid key could start with it, else raise ``ValueError``.

    ``""`` (everything) and prefixes ending in ``/`` (a "folder") are allowed;
    the rest of the prefix follows the key rules, so a prefix can never
    reach outside the store or into hidden names.
    """
    if not isinstance(prefix, str):
        raise ValueError("storage prefix must be a string")
    if prefix:
        checked_storage_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def check_content_type(content_type: str) -> str:
    """Return ``content_type`` unchanged if it can be sent as an HTTP header value, else raise ``ValueError``."""
    if not isinstance(content_type, str) or not content_type.strip():
        raise ValueError("content type must be a non-empty string")
    if any(ord(ch) < 0x20 or ord(ch) >= 0x7F for ch in content_type):
        raise ValueError(f"content type must be printable ASCII, got {content_type!r}")
    return content_type


def check_range(key: str, start: int, end_inclusive: int, size: int) -> None:
    """Raise ``ValueError`` unless ``start..end_inclusive`` lies inside an object of ``size`` bytes."""
    if not (0 <= start <= end_inclusive < size):
        raise ValueError(f"byte range {start}-{end_inclusive} is outside {key!r} ({size} bytes)")


@runtime_checkable
class Storage(Protocol):
    """A place to keep output files.

    Every method validates ``key`` first (``ValueError`` if unsafe) and raises
    :class:`ObjectNotFound` for a key that holds nothing — except
    :meth:`exists` (answers ``False``) and :meth:`delete` (a no-op, because
    remote stores such as S3 cannot tell cheaply and cleanup must be
    repeatable). A reader never sees a half-written object.
    """

    def put_file(self, key: str, src_path: Path, content_type: str) -> StoredObject:
        """Store a copy of the file at ``src_path`` (left in place) under ``key``, replacing any object there."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        """Store ``data`` under ``key``, replacing any object there."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The whole object."""
        ...

    def stat(self, key: str) -> StoredObject:
        """Size, content type and ETag of the object."""
        ...

    def size(self, key: str) -> int:
        """The object's length in bytes."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    def open_range(self, key: str, start: int, end_inclusive: int) -> Iterator[bytes]:
        """Bytes ``start..end_inclusive`` of the object, in chunks of at most :data:`CHUNK_SIZE`.

        ``ValueError`` if the range is empty or reaches past the end. The key
        is checked when this is called, not on the first ``next()``.
        """
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's file on this machine's disk, or ``None`` for stores that are not on local disk."""
        ...

    def list_objects(self, prefix: str, *, start_after: str | None = None) -> Iterator[ListedObject]:
        """Every object whose key starts with ``prefix``, in ascending key order (by code point).

        ``prefix`` is a plain string prefix, as in S3's ListObjectsV2:
        ``"outputs/job_1"`` also matches ``"outputs/job_10/..."``; end it with
        ``/`` to list one "folder". ``start_after`` skips every key up to and
        including it (a cursor for listing in batches). The prefix is checked
        when this is called (``ValueError`` if no valid key could start with
        it); objects written or deleted during the listing may or may not appear.
        """
        ...
