"""What only S3Storage does, against moto's S3 server on loopback (the contract itself is in test_contract.py).

Requests are watched with botocore's event hooks, so "one ranged GET, read in
chunks" is checked on the wire, not assumed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from happyhorse.runtime import open_storage
from happyhorse.settings import Settings
from happyhorse.storage import LocalStorage, ObjectNotFound, S3Storage, S3Unavailable
from happyhorse.storage.base import CHUNK_SIZE

KEY = "outputs/job_x/video.mp4"


class _Requests:
    """The HTTP requests a client sends (method and Range header), in order, while in a ``with`` block."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.sent: list[tuple[str, str | None]] = []
        self._events = client.meta.events

    def __enter__(self) -> _Requests:
        self._events.register("before-send.s3", self._record)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._events.unregister("before-send.s3", self._record)

    def _record(self, request, **_: object) -> None:  # type: ignore[no-untyped-def]
        header = request.headers.get("Range")
        self.sent.append((request.method, header.decode() if isinstance(header, bytes) else header))


@pytest.fixture
def storage(s3_bucket: str, s3_client) -> S3Storage:  # type: ignore[no-untyped-def]
    return S3Storage(s3_bucket, prefix="hh", client=s3_client)


def test_objects_live_under_the_prefix_with_their_content_type(storage: S3Storage, s3_client, s3_bucket) -> None:
    storage.put_bytes(KEY, b"video", "video/mp4")
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"hh/{KEY}")
    assert head["ContentType"] == "video/mp4" and head["ContentLength"] == 5
    assert storage.local_path(KEY) is None


def test_prefixes_are_folders(s3_bucket: str, s3_client) -> None:  # type: ignore[no-untyped-def]
    for prefix in ("a/b", "a/b/", "/a/b/"):
        assert S3Storage(s3_bucket, prefix=prefix, client=s3_client).prefix == "a/b/"
    assert S3Storage(s3_bucket, prefix="", client=s3_client).prefix == ""
    for bad in ("../up", "a//b", "a/.hidden"):
        with pytest.raises(ValueError):
            S3Storage(s3_bucket, prefix=bad, client=s3_client)


def test_open_range_is_one_ranged_get_read_in_chunks(storage: S3Storage, s3_client) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * (3 * CHUNK_SIZE // 256 + 1)
    storage.put_bytes(KEY, data, "video/mp4")
    with _Requests(s3_client) as requests:
        chunks = storage.open_range(KEY, 10, len(data) - 1)
        # Sent at the call (so a missing key fails there), but nothing read yet.
        assert requests.sent == [("GET", f"bytes=10-{len(data) - 1}")]
        first = next(chunks)
        assert 0 < len(first) <= CHUNK_SIZE
        rest = list(chunks)
    assert first + b"".join(rest) == data[10:] and all(len(c) <= CHUNK_SIZE for c in rest)
    assert requests.sent == [("GET", f"bytes=10-{len(data) - 1}")]


def test_a_range_past_the_end_is_refused_even_though_s3_would_shorten_it(storage: S3Storage) -> None:
    storage.put_bytes(KEY, b"0123456789", "video/mp4")
    with pytest.raises(ValueError):
        storage.open_range(KEY, 5, 10)
    storage.put_bytes(KEY, b"", "video/mp4")
    with pytest.raises(ValueError):
        storage.open_range(KEY, 0, 0)


def test_a_big_file_goes_up_in_parts(storage: S3Storage, tmp_path: Path, s3_client, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "big.mp4"
    part = 16 * 1024 * 1024
    src.write_bytes(b"".join(bytes([i]) * 1024 for i in range(256)) * (part // (256 * 1024) + 1))
    info = storage.put_file(KEY, src, "video/mp4")
    assert info.bytes == src.stat().st_size > part
    assert info.etag is not None and info.etag.endswith('-2"')  # S3's ETag of a two-part upload
    assert s3_client.head_object(Bucket=s3_bucket, Key=f"hh/{KEY}")["ContentType"] == "video/mp4"
    assert b"".join(storage.open_range(KEY, part - 3, part + 2)) == src.read_bytes()[part - 3 : part + 3]


def test_other_errors_are_not_object_not_found(s3_bucket: str, s3_client) -> None:  # type: ignore[no-untyped-def]
    missing_bucket = S3Storage(f"{s3_bucket}-gone", client=s3_client)
    for call in (lambda: missing_bucket.get_bytes(KEY), lambda: missing_bucket.put_bytes(KEY, b"x", "video/mp4"),
                 lambda: list(missing_bucket.list_objects(""))):
        with pytest.raises(ClientError) as caught:
            call()
        assert not isinstance(caught.value, ObjectNotFound)


def test_check_bucket_says_what_is_wrong(s3_bucket: str, s3_client, s3_endpoint: str) -> None:  # type: ignore[no-untyped-def]
    S3Storage(s3_bucket, client=s3_client).check_bucket()
    with pytest.raises(S3Unavailable, match="does not exist") as caught:
        S3Storage("no-such-bucket", endpoint_url=s3_endpoint, client=s3_client).check_bucket()
    assert "s3://no-such-bucket/" in str(caught.value) and s3_endpoint in str(caught.value)


def test_open_storage_builds_what_the_settings_name(tmp_path: Path, s3_bucket: str, s3_endpoint: str) -> None:
    assert isinstance(open_storage(Settings(data_dir=tmp_path)), LocalStorage)
    settings = Settings(data_dir=tmp_path, storage="s3", s3_bucket=s3_bucket, s3_prefix="fleet",
                        s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    store = open_storage(settings)
    assert isinstance(store, S3Storage) and (store.bucket, store.prefix) == (s3_bucket, "fleet/")
    store.put_bytes(KEY, b"x", "video/mp4")
    assert open_storage(settings).get_bytes(KEY) == b"x"  # a second process sees it
    with pytest.raises(S3Unavailable, match="does not exist"):
        open_storage(Settings(data_dir=tmp_path, storage="s3", s3_bucket="nope", s3_endpoint_url=s3_endpoint))
    with pytest.raises(S3Unavailable, match="needs a bucket"):
        open_storage(Settings(data_dir=tmp_path, storage="s3"))
    with pytest.raises(ValueError, match="unknown storage"):
        open_storage(Settings(data_dir=tmp_path, storage="ftp"))


def test_without_boto3_everything_imports_and_s3_names_the_extra() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["boto3"] = sys.modules["botocore"] = None  # as if not installed
        import happyhorse.app, happyhorse.cli, happyhorse.runtime, happyhorse.storage
        from happyhorse.storage import S3Storage, S3Unavailable
        try:
            S3Storage("bucket")
        except S3Unavailable as exc:
            print(exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'happyhorse[s3]'" in done.stdout
