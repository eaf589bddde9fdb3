"""The Storage contract: LocalStorage and MemoryStorage must behave alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from happyhorse.storage import LocalStorage, MemoryStorage, ObjectNotFound, Storage, StoredObject
from happyhorse.storage.base import CHUNK_SIZE

KEY = "outputs/job_x/video.mp4"


@pytest.fixture(params=["local", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    return MemoryStorage()


def test_implements_the_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)


def test_put_bytes_round_trip(storage: Storage) -> None:
    info = storage.put_bytes(KEY, b"hello video", "video/mp4")
    assert (info.key, info.bytes, info.content_type) == (KEY, 11, "video/mp4")
    assert storage.get_bytes(KEY) == b"hello video"
    assert storage.size(KEY) == 11
    assert storage.exists(KEY)
    assert storage.stat(KEY) == info


def test_put_file_copies_and_leaves_source(storage: Storage, tmp_path: Path) -> None:
    src = tmp_path / "encoded.mp4"
    src.write_bytes(b"\x00\x01" * 1000)
    info = storage.put_file(KEY, src, "video/mp4")
    assert info == StoredObject(KEY, 2000, "video/mp4", info.etag)
    assert storage.get_bytes(KEY) == src.read_bytes()
    assert src.exists()


def test_content_type_is_kept_not_guessed(storage: Storage) -> None:
    storage.put_bytes("outputs/a.bin", b"x", "image/jpeg")
    assert storage.stat("outputs/a.bin").content_type == "image/jpeg"


def test_put_replaces_and_changes_etag(storage: Storage) -> None:
    first = storage.put_bytes(KEY, b"one", "video/mp4")
    second = storage.put_bytes(KEY, b"three", "video/mp4")
    assert storage.get_bytes(KEY) == b"three"
    assert first.etag != second.etag
    assert second.etag is not None and second.etag.startswith('"') and second.etag.endswith('"')
    # Same size, written at once: the ETag must still change.
    third = storage.put_bytes(KEY, b"THREE", "video/mp4")
    assert third.etag != second.etag


def test_missing_key_raises_object_not_found(storage: Storage) -> None:
    assert not storage.exists(KEY)
    for call in (storage.get_bytes, storage.size, storage.stat, storage.local_path):
        with pytest.raises(ObjectNotFound):
            call(KEY)
    with pytest.raises(KeyError):  # ObjectNotFound is a KeyError
        storage.open_range(KEY, 0, 0)


def test_delete_is_idempotent(storage: Storage) -> None:
    storage.put_bytes(KEY, b"abc", "video/mp4")
    storage.delete(KEY)
    assert not storage.exists(KEY)
    storage.delete(KEY)
    with pytest.raises(ObjectNotFound):
        storage.get_bytes(KEY)


def test_open_range_yields_exact_bytes_in_bounded_chunks(storage: Storage) -> None:
    data = bytes(range(256)) * ((3 * CHUNK_SIZE) // 256 + 7)
    storage.put_bytes(KEY, data, "video/mp4")
    for start, end in [(0, 0), (0, len(data) - 1), (5, 9), (CHUNK_SIZE - 1, 2 * CHUNK_SIZE + 3), (len(data) - 1, len(data) - 1)]:
        chunks = list(storage.open_range(KEY, start, end))
        assert b"".join(chunks) == data[start : end + 1]
        assert all(0 < len(c) <= CHUNK_SIZE for c in chunks)


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (3, 2), (0, 10), (10, 10)])
def test_open_range_rejects_ranges_outside_the_object(storage: Storage, start: int, end: int) -> None:
    storage.put_bytes(KEY, b"0123456789", "video/mp4")
    with pytest.raises(ValueError):
        storage.open_range(KEY, start, end)


def test_empty_object(storage: Storage) -> None:
    storage.put_bytes(KEY, b"", "video/mp4")
    assert storage.size(KEY) == 0
    assert storage.get_bytes(KEY) == b""


def test_keys_are_validated_by_every_method(storage: Storage, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    bad = "../escape.mp4"
    for call in (
        lambda: storage.put_bytes(bad, b"x", "video/mp4"),
        lambda: storage.put_file(bad, src, "video/mp4"),
        lambda: storage.get_bytes(bad),
        lambda: storage.stat(bad),
        lambda: storage.size(bad),
        lambda: storage.exists(bad),
        lambda: storage.delete(bad),
        lambda: storage.open_range(bad, 0, 0),
        lambda: storage.local_path(bad),
    ):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("content_type", ["", "video/mp4\r\nX-Evil: 1", "vidéo/mp4"])
def test_content_type_must_be_a_header_value(storage: Storage, content_type: str) -> None:
    with pytest.raises(ValueError):
        storage.put_bytes(KEY, b"x", content_type)
    assert not storage.exists(KEY)


def test_directory_is_not_an_object(storage: Storage) -> None:
    storage.put_bytes(KEY, b"x", "video/mp4")
    assert not storage.exists("outputs/job_x")
    with pytest.raises(ObjectNotFound):
        storage.get_bytes("outputs/job_x")


# -- backend specifics -------------------------------------------------------


def test_local_files_live_under_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes(KEY, b"abc", "video/mp4")
    path = storage.local_path(KEY)
    assert path == tmp_path.resolve() / "outputs" / "job_x" / "video.mp4"
    assert path.read_bytes() == b"abc"
    # Only the object and its hidden sidecar: no temp files left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == [".video.mp4.content-type", "video.mp4"]


def test_local_failed_write_leaves_no_trace(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(FileNotFoundError):
        storage.put_file(KEY, tmp_path / "does-not-exist", "video/mp4")
    assert not storage.exists(KEY)


def test_local_file_without_sidecar_is_octet_stream(tmp_path: Path) -> None:
    (tmp_path / "dropped.mp4").write_bytes(b"x")
    assert LocalStorage(tmp_path).stat("dropped.mp4").content_type == "application/octet-stream"


def test_memory_has_no_local_path() -> None:
    storage = MemoryStorage()
    storage.put_bytes(KEY, b"x", "video/mp4")
    assert storage.local_path(KEY) is None
    assert storage.keys() == [KEY]
