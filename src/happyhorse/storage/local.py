"""Objects as plain files under one directory: the default store.

``outputs/job_x/video.mp4`` lives at ``<root>/outputs/job_x/video.mp4``, so
other tools (and :meth:`LocalStorage.local_path`) can read it directly. Its
content type lives in a hidden sidecar next to it,
``<root>/outputs/job_x/.video.mp4.content-type``; hidden names cannot clash
with keys because :func:`~happyhorse.storage.base.checked_storage_key` forbids
segments that start with a dot. Folders exist only while they hold
something: deleting the last object in one removes it (and any parents it
leaves empty).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

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

_SIDECAR_SUFFIX = ".content-type"
# Hidden names a write leaves if its process dies half way (see list_debris).
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]+\.tmp")
_SIDECAR_NAME = re.compile(rf"\.(?P<name>.+){re.escape(_SIDECAR_SUFFIX)}")
# A writer whose folder was removed under it (the last object in it deleted at
# that moment) creates the folder again and retries, this many times in all.
_WRITE_TRIES = 3
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
        self._remove_empty_folders(path.parent)

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

    def list_objects(self, prefix: str, *, start_after: str | None = None) -> Iterator[ListedObject]:
        folder, _, partial = checked_storage_prefix(prefix).rpartition("/")
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        return _walk(start, f"{folder}/" if folder else "", partial, start_after)

    # -- leftovers of unfinished writes ---------------------------------
    # Not part of the Storage protocol: S3 has the same problem as incomplete
    # multipart uploads, which a bucket lifecycle rule removes.

    def list_debris(self, prefix: str, *, older_than: float) -> list[str]:
        """Hidden files under the folder ``prefix`` that a write killed half way left behind.

        That is temp files, and content-type sidecars whose object does not
        exist, last modified before ``older_than`` (epoch seconds): a write
        in progress has fresh ones. Paths are relative to the root, sorted.
        """
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"debris is listed by folder: the prefix must end with '/', got {prefix!r}")
        checked_storage_prefix(prefix)
        start = self.root.joinpath(*prefix[:-1].split("/")) if prefix else self.root
        found: list[str] = []
        for folder, _, names in os.walk(start):
            for name in names:
                path = Path(folder, name)
                sidecar = _SIDECAR_NAME.fullmatch(name)
                if not (_TEMP_NAME.fullmatch(name) or (sidecar and not path.with_name(sidecar["name"]).exists())):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < older_than:
                        found.append(path.relative_to(self.root).as_posix())
        return sorted(found)

    def remove_debris(self, name: str) -> None:
        """Delete one file that :meth:`list_debris` named (a no-op if it is gone)."""
        folder, _, base = name.rpartition("/")
        if not (_TEMP_NAME.fullmatch(base) or _SIDECAR_NAME.fullmatch(base)):
            raise ValueError(f"not an unfinished write's leftover: {name!r}")
        path = (self._path(folder) if folder else self.root) / base
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._remove_empty_folders(path.parent)

    # -- helpers ---------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*checked_storage_key(key).split("/"))

    @staticmethod
    def _stat_file(key: str, path: Path) -> os.stat_result:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        if not path.is_file():
            raise ObjectNotFound(key)
        return st

    def _remove_empty_folders(self, folder: Path) -> None:
        """Remove ``folder`` and then each parent below the root, while they are empty."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): the folders above are in use too
                return
            folder = folder.parent

    @staticmethod
    def _write_atomically(path: Path, content_type: str, write: _Writer) -> None:
        for attempt in range(_WRITE_TRIES):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Once the sidecar is in, the folder is not empty and stays.
                _replace_with(_sidecar(path), lambda dst: dst.write(content_type.encode("ascii")))
                break
            except FileNotFoundError:
                if attempt == _WRITE_TRIES - 1:
                    raise
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


def _walk(folder: Path, key_prefix: str, partial: str, start_after: str | None) -> Iterator[ListedObject]:
    """The objects under ``folder`` (whose keys start with ``key_prefix``) in key order.

    Only names starting with ``partial`` count at this level; hidden names
    (sidecars, temp files) and names that are not valid keys are skipped.
    """
    try:
        with os.scandir(folder) as scan:
            entries = [e for e in scan if e.name.startswith(partial) and not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return
    # Sorted as their keys sort: every key in a folder starts with "name/".
    folders = {e.name for e in entries if e.is_dir(follow_symlinks=False)}
    entries.sort(key=lambda e: f"{e.name}/" if e.name in folders else e.name)
    for entry in entries:
        key = key_prefix + entry.name
        if entry.name in folders:
            below = f"{key}/"
            if start_after is not None and below < start_after and not start_after.startswith(below):
                continue  # every key in this folder sorts before the cursor
            yield from _walk(Path(entry.path), below, "", start_after)
            continue
        if start_after is not None and key <= start_after:
            continue
        try:
            checked_storage_key(key)
            st = entry.stat()
        except (ValueError, FileNotFoundError):
            continue  # a name no key can have, or deleted while we listed
        if stat.S_ISREG(st.st_mode):
            yield ListedObject(key=key, bytes=st.st_size, modified_at=st.st_mtime)


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
