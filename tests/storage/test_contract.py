"""The Storage contract: LocalStorage, MemoryStorage and S3Storage must behave alike.

S3Storage runs against moto's S3 server on loopback (the ``s3_bucket``
fixture), once at the top of a bucket and once under a prefix, next to an
object outside the prefix that it must never see.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

from happyhorse.storage import LocalStorage, MemoryStorage, ObjectNotFound, S3Storage, Storage, StoredObject
from happyhorse.storage.base import CHUNK_SIZE

KEY = "outputs/job_x/video.mp4"


@pytest.fixture(params=["local", "memory", "s3", "s3-prefixed"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    if request.param == "memory":
        return MemoryStorage()
    bucket, client = request.getfixturevalue("s3_bucket"), request.getfixturevalue("s3_client")
    if request.param == "s3":
        return S3Storage(bucket, client=client)
    # Next door, under a prefix that sorts before and one that shares its start: never listed, never touched.
    neighbour = S3Storage(bucket, client=client)
    for key in ("tenant/a.txt", "tenant/aa/outputs/job_x/video.mp4", "outputs/job_x/video.mp4"):
        neighbour.put_bytes(key, b"neighbour", "text/plain")
    return S3Storage(bucket, prefix="tenant/a", client=client)


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


def _listed(storage: Storage, prefix: str, **kwargs: str) -> list[str]:
    return [obj.key for obj in storage.list_objects(prefix, **kwargs)]


def test_list_objects_in_key_order_with_size_and_time(storage: Storage) -> None:
    # "a-b" sorts between "a" and "a/…" ("-" < "/"), and "a/z" before "b": a
    # store listing folder by folder must still yield plain key order.
    keys = ["outputs/a/z", "outputs/a-b", "outputs/b", "outputs/a/y/x", "outputs/a.c", "uploads/u.png"]
    before = time.time()
    for key in keys:
        storage.put_bytes(key, key.encode(), "application/octet-stream")
    listed = list(storage.list_objects(""))
    assert [obj.key for obj in listed] == sorted(keys)
    for obj in listed:
        assert obj.bytes == len(obj.key)
        assert before - 5 <= obj.modified_at <= time.time() + 5
    assert _listed(storage, "outputs/") == sorted(k for k in keys if k.startswith("outputs/"))


def test_list_objects_prefix_is_a_plain_string_prefix(storage: Storage) -> None:
    for key in ("outputs/job_1/1/video.mp4", "outputs/job_10/1/video.mp4", "outputs/job_2/1/video.mp4"):
        storage.put_bytes(key, b"x", "video/mp4")
    assert _listed(storage, "outputs/job_1") == ["outputs/job_1/1/video.mp4", "outputs/job_10/1/video.mp4"]
    assert _listed(storage, "outputs/job_1/") == ["outputs/job_1/1/video.mp4"]
    assert _listed(storage, "outputs/job_1/1/video.mp4") == ["outputs/job_1/1/video.mp4"]
    assert _listed(storage, "outputs/job_3/") == []
    assert _listed(storage, "nothing/here/") == []


def test_list_objects_start_after_is_a_cursor(storage: Storage) -> None:
    keys = sorted(f"uploads/upload_{i:02d}.png" for i in range(7)) + ["uploads/z/deep.png"]
    for key in keys:
        storage.put_bytes(key, b"x", "image/png")
    assert _listed(storage, "uploads/", start_after=keys[2]) == keys[3:]
    assert _listed(storage, "uploads/", start_after="uploads/upload_03") == keys[3:]
    assert _listed(storage, "uploads/", start_after="uploads/z/") == ["uploads/z/deep.png"]
    assert _listed(storage, "uploads/", start_after=keys[-1]) == []
    # Paging through in batches visits every key once.
    seen: list[str] = []
    cursor = None
    while page := list(itertools.islice(storage.list_objects("uploads/", start_after=cursor), 3)):
        seen += [obj.key for obj in page]
        cursor = page[-1].key
    assert seen == keys


def test_list_objects_skips_deleted_and_checks_the_prefix_at_once(storage: Storage) -> None:
    storage.put_bytes(KEY, b"x", "video/mp4")
    storage.delete(KEY)
    assert _listed(storage, "") == []
    for bad in ("../", "/outputs/", "outputs//", "outputs/.hidden", "a\\b"):
        with pytest.raises(ValueError):
            storage.list_objects(bad)


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


def test_local_listing_hides_sidecars_temp_files_and_odd_names(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes(KEY, b"abc", "video/mp4")
    folder = tmp_path / "outputs" / "job_x"
    (folder / ".video.mp4.abc123.tmp").write_bytes(b"half")
    (folder / "bad\\name").write_bytes(b"x")
    assert [obj.key for obj in storage.list_objects("")] == [KEY]


def test_local_delete_removes_folders_left_empty(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("outputs/job_x/1/video.mp4", b"a", "video/mp4")
    storage.put_bytes("outputs/job_x/1/poster.jpg", b"b", "image/jpeg")
    storage.put_bytes("outputs/job_y/1/video.mp4", b"c", "video/mp4")
    storage.delete("outputs/job_x/1/video.mp4")
    assert (tmp_path / "outputs" / "job_x" / "1").is_dir()  # the poster is still there
    storage.delete("outputs/job_x/1/poster.jpg")
    assert not (tmp_path / "outputs" / "job_x").exists()
    assert (tmp_path / "outputs" / "job_y" / "1").is_dir()
    storage.delete("outputs/job_y/1/video.mp4")
    assert list(tmp_path.iterdir()) == []  # the root itself stays
    storage.put_bytes("outputs/job_y/1/video.mp4", b"d", "video/mp4")  # and folders come back on demand
    assert storage.get_bytes("outputs/job_y/1/video.mp4") == b"d"


def test_local_write_survives_its_folder_being_removed_under_it(tmp_path: Path, monkeypatch) -> None:
    storage = LocalStorage(tmp_path)
    real_mkdir = Path.mkdir
    removed: list[Path] = []

    def mkdir_then_lose_it(self: Path, *args, **kwargs) -> None:
        real_mkdir(self, *args, **kwargs)
        if not removed and self.name == "job_x":
            # A concurrent delete of the folder's last object prunes it right here.
            removed.append(self)
            self.rmdir()

    monkeypatch.setattr(Path, "mkdir", mkdir_then_lose_it)
    storage.put_bytes(KEY, b"abc", "video/mp4")
    assert removed and storage.get_bytes(KEY) == b"abc"


def test_memory_listing_uses_its_clock() -> None:
    now = [1000.0]
    storage = MemoryStorage(clock=lambda: now[0])
    storage.put_bytes(KEY, b"x", "video/mp4")
    now[0] = 2000.0
    storage.put_bytes("outputs/job_y/video.mp4", b"yy", "video/mp4")
    assert [(o.key, o.bytes, o.modified_at) for o in storage.list_objects("outputs/")] == [
        (KEY, 1, 1000.0), ("outputs/job_y/video.mp4", 2, 2000.0)]


def test_local_debris_is_what_a_killed_write_leaves(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("outputs/job_x/1/video.mp4", b"a", "video/mp4")  # a finished object: not debris
    folder = tmp_path / "outputs" / "job_x" / "1"
    old, new = time.time() - 100, time.time()
    leftovers = {
        folder / ".poster.jpg.k3j2h1g0.tmp": old,  # killed while writing the data
        folder / ".poster.jpg.content-type": old,  # ... after its sidecar went in
        folder / ".clip.mp4.content-type.abcd_123.tmp": old,  # killed while writing a sidecar
        folder / ".thumb.jpg.zz99zz99.tmp": new,  # a write in progress
    }
    for path, mtime in leftovers.items():
        path.write_bytes(b"x")
        os.utime(path, (mtime, mtime))
    (folder / ".notes").write_bytes(b"someone else's hidden file")

    found = storage.list_debris("outputs/", older_than=time.time() - 10)
    assert found == sorted(f"outputs/job_x/1/{name}" for name in (
        ".poster.jpg.k3j2h1g0.tmp", ".poster.jpg.content-type", ".clip.mp4.content-type.abcd_123.tmp"))
    assert storage.list_debris("outputs/job_y/", older_than=time.time()) == []
    assert len(storage.list_debris("", older_than=time.time() + 10)) == 4
    for name in found:
        storage.remove_debris(name)
        storage.remove_debris(name)  # already gone: fine
    assert storage.list_debris("", older_than=time.time() - 10) == []
    assert storage.get_bytes("outputs/job_x/1/video.mp4") == b"a"
    assert (folder / ".notes").exists()


def test_local_debris_names_are_checked(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for bad in ("outputs/job_x/video.mp4", "../.x.abcd1234.tmp", "outputs/../../.x.abcd1234.tmp", "outputs/.notes"):
        with pytest.raises(ValueError):
            storage.remove_debris(bad)
    with pytest.raises(ValueError):
        storage.list_debris("outputs", older_than=0)  # a folder, not a partial name
    storage.put_bytes("outputs/job_x/1/video.mp4", b"a", "video/mp4")
    stray = tmp_path / "outputs" / "job_x" / "2" / ".video.mp4.abcd1234.tmp"
    stray.parent.mkdir()
    stray.write_bytes(b"half")
    storage.remove_debris("outputs/job_x/2/.video.mp4.abcd1234.tmp")
    assert not stray.parent.exists()  # its folder went with it
