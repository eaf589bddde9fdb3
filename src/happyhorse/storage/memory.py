"""An in-memory store: the fake for unit tests."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from happyhorse.storage.base import (
    CHUNK_SIZE,
    ListedObject,
    ObjectNotFound,
    StoredObject,
    check_content_type,
    check_range,
    checked_storage_key,
    checked_storage_prefix,
)


class MemoryStorage:
    """A :class:`~happyhorse.storage.base.Storage` that keeps objects in a dict.

    Behaves like :class:`~happyhorse.storage.local.LocalStorage` in every way
    the protocol promises (same key rules, same errors), except that
    :meth:`local_path` is always ``None``, as for a remote store. Thread-safe.
    ``clock`` stamps each write's modified time (tests pass a fake one).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._objects: dict[str, tuple[bytes, StoredObject]] = {}
        self._modified: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def put_file(self, key: str, src_path: Path, content_type: str) -> StoredObject:
        checked_storage_key(key)
        return self.put_bytes(key, Path(src_path).read_bytes(), content_type)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        checked_storage_key(key)
        check_content_type(content_type)
        data = bytes(data)
        # A content hash: the same bytes give the same ETag, any change gives another.
        etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
        info = StoredObject(key=key, bytes=len(data), content_type=content_type, etag=etag)
        with self._lock:
            self._objects[key] = (data, info)
            self._modified[key] = self._clock()
        return info

    def get_bytes(self, key: str) -> bytes:
        return self._get(key)[0]

    def stat(self, key: str) -> StoredObject:
        return self._get(key)[1]

    def size(self, key: str) -> int:
        return self._get(key)[1].bytes

    def exists(self, key: str) -> bool:
        checked_storage_key(key)
        with self._lock:
            return key in self._objects

    def delete(self, key: str) -> None:
        checked_storage_key(key)
        with self._lock:
            self._objects.pop(key, None)
            self._modified.pop(key, None)

    def open_range(self, key: str, start: int, end_inclusive: int) -> Iterator[bytes]:
        data = self._get(key)[0]
        check_range(key, start, end_inclusive, len(data))
        return _chunks(data, start, end_inclusive + 1)

    def local_path(self, key: str) -> Path | None:
        self._get(key)
        return None

    def list_objects(self, prefix: str, *, start_after: str | None = None) -> Iterator[ListedObject]:
        checked_storage_prefix(prefix)
        with self._lock:
            listed = [
                ListedObject(key=key, bytes=info.bytes, modified_at=self._modified[key])
                for key, (_, info) in self._objects.items()
                if key.startswith(prefix) and (start_after is None or key > start_after)
            ]
        return iter(sorted(listed, key=lambda obj: obj.key))

    def keys(self) -> list[str]:
        """Every stored key, sorted (for assertions in tests)."""
        with self._lock:
            return sorted(self._objects)

    def _get(self, key: str) -> tuple[bytes, StoredObject]:
        checked_storage_key(key)
        with self._lock:
            try:
                return self._objects[key]
            except KeyError:
                raise ObjectNotFound(key) from None


def _chunks(data: bytes, start: int, stop: int) -> Iterator[bytes]:
    view = memoryview(data)
    for offset in range(start, stop, CHUNK_SIZE):
        yield bytes(view[offset : min(offset + CHUNK_SIZE, stop)])
