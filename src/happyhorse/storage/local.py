"""Objects as plain files under one directory: the default store.

``outputs/job_x/video.mp4`` lives at ``<root>/outputs/job_x/video.mp4``, so
other tools (and :meth:`LocalStorage.local_path`) can read it directly. Its
content type lives in a hidden sidecar next to it,
``<root>/outputs/job_x/.video.mp4.content-type``; hidden names cannot clash
with keys because :func:`~happyhorse.storage.base.validate_key` forbids
segments that start with a dot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from happyhorse.storage.base import (
    CHUNK_SIZE,
    ObjectNotFound,
    StoredObject,
    check_content_type,
    check_range,
    validate_key,
)

_SIDECAR_SUFFIX = ".content-type"
_FALLBACK_CONTENT_TYPE = "application/octet-stream"

_Writer = Callable[[BinaryIO], object]


class LocalStorage:
    """A :class:`~happyhorse.storage.base.Storage` backed by a directory on local disk.

    Writes go to a temp file in the target directory and are renamed into
    place, so readers see the old object or the new one, never a torn one.
    The sidecar is written before the data, so a visible object always has
    its content type (replacing an object with one of another type has a
    brief window where the old bytes carry the new type; outputs are
    write-once, so this does not arise in practice).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    # -- writing ---------------------------------------------------------

    def put_file(self, key: str, src_path: Path, content_type: str) -> StoredObject:
        path = self._path(key)
        check_content_type(content_type)
        with open(src_path, "rb") as src:
            self._write_atomically(path, content_type, lambda dst: shutil.copyfileobj(src, dst, CHUNK_SIZE))
        return self.stat(key)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        path = self._path(key)
        check_content_type(content_type)
        self._write_atomically(path, content_type, lambda dst: dst.write(data))
        return self.stat(key)

    def delete(self, key: str) -> None:
        path = self._path(key)
        # Data first: once it is gone the object is gone, whatever happens to the sidecar.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            _sidecar(path).unlink()

    # -- reading ---------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def stat(self, key: str) -> StoredObject:
        path = self._path(key)
        st = self._stat_file(key, path)
        try:
            content_type = _sidecar(path).read_text(encoding="ascii").strip() or _FALLBACK_CONTENT_TYPE
        except FileNotFoundError:
            # A file dropped in by hand: serve it, but claim nothing about it.
            content_type = _FALLBACK_CONTENT_TYPE
        # Every write renames a new file into place, so the inode changes even when
        # size and a coarse mtime do not.
        etag = f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'
        return StoredObject(key=key, bytes=st.st_size, content_type=content_type, etag=etag)

    def size(self, key: str) -> int:
        path = self._path(key)
        return self._stat_file(key, path).st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def open_range(self, key: str, start: int, end_inclusive: int) -> Iterator[bytes]:
        path = self._path(key)
        try:
            # Opened now, not on first next(): a missing key fails at the call site.
            f = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            check_range(key, start, end_inclusive, os.fstat(f.fileno()).st_size)
        except BaseException:
            f.close()
            raise
        return _read_chunks(f, start, end_inclusive - start + 1)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        self._stat_file(key, path)
        return path

    # -- helpers ---------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    @staticmethod
    def _stat_file(key: str, path: Path) -> os.stat_result:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        if not path.is_file():
            raise ObjectNotFound(key)
        return st

    @staticmethod
    def _write_atomically(path: Path, content_type: str, write: _Writer) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_with(_sidecar(path), lambda dst: dst.write(content_type.encode("ascii")))
        _replace_with(path, write)


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}{_SIDECAR_SUFFIX}")


def _replace_with(path: Path, write: _Writer) -> None:
    """Write a hidden temp file beside ``path`` with ``write(fileobj)``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as dst:
            write(dst)
            dst.flush()
            # Durable before visible: a crash must not leave a renamed but empty video.
            os.fsync(dst.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_chunks(f: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with f:
        f.seek(start)
        while length > 0:
            chunk = f.read(min(CHUNK_SIZE, length))
            if not chunk:
                # Truncated in place under us: stop rather than loop forever.
                # (A rename-replace cannot cause this: our descriptor keeps the old file.)
                return
            length -= len(chunk)
            yield chunk
