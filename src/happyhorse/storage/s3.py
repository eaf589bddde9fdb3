"""Objects in an S3 bucket (AWS, or anything that speaks its API: MinIO, R2...).

The store a fleet needs: API processes and workers on different hosts all
read and write the same bucket. Key ``outputs/job_x/video.mp4`` is the S3 key
``<prefix>outputs/job_x/video.mp4``; the content type is the object's own
``Content-Type``, and the ETag is the one S3 computes.

boto3 is imported only when a store is built, so the base install and a
server without the ``s3`` extra import this module fine; building one
without boto3 raises :class:`S3Unavailable` naming the extra to install.
Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``..., a
profile, an instance role). With an ``endpoint_url`` (MinIO, R2, a test
server) requests use path-style addressing (``<endpoint>/<bucket>/<key>``).

A PUT is atomic in S3: readers see the old object or the new one, never a
torn one. An upload killed half way leaves at most an incomplete multipart
upload, invisible to readers and listings; a bucket lifecycle rule
("abort incomplete multipart uploads after N days") removes those.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from happyhorse.storage.base import (
    CHUNK_SIZE,
    ListedObject,
    ObjectNotFound,
    StoredObject,
    check_content_type,
    checked_storage_key,
    checked_storage_prefix,
)

INSTALL_HINT = "pip install 'happyhorse[s3]'"
_FALLBACK_CONTENT_TYPE = "application/octet-stream"
# What S3 (and S3-alikes) answer for a key that holds nothing.
_NOT_FOUND_CODES = {"NoSuchKey", "NotFound", "404"}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
# Generous for an API process: each download in flight holds one connection.
_MAX_POOL_CONNECTIONS = 64


class S3Unavailable(RuntimeError):
    """The configured S3 store cannot be used: boto3 is missing, or the bucket cannot be reached."""


class S3Storage:
    """A :class:`~happyhorse.storage.base.Storage` backed by one S3 bucket, under an optional key prefix.

    ``prefix`` is a folder inside the bucket (``"happyhorse"`` and
    ``"happyhorse/"`` are the same), so one bucket can hold several
    deployments; ``""`` uses the whole bucket. ``client`` is a ready boto3
    S3 client (``endpoint_url`` and ``region`` are then ignored). The client
    is thread-safe, so one store serves every request thread.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.prefix = s3_folder(prefix)
        self.endpoint_url = endpoint_url
        self._client = client if client is not None else _make_client(endpoint_url, region)
        from boto3.s3.transfer import TransferConfig  # present wherever a client could be built

        # Multipart above 16 MiB, in 16 MiB parts (a 15 s 1080p video is tens of MB).
        self._transfer = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3Storage({self.bucket!r}, prefix={self.prefix!r}{where})"

    def describe(self) -> str:
        """Where objects go, for messages: ``s3://bucket/prefix`` (and the endpoint if not AWS)."""
        at = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{at}"

    def check_bucket(self) -> None:
        """Raise :class:`S3Unavailable` with why, unless the bucket exists and these credentials may use it."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                why = "the bucket does not exist"
            elif code in ("403", "AccessDenied", "Forbidden"):
                why = "access denied (check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)"
            else:
                why = f"{code}: {exc}"
            raise S3Unavailable(f"cannot use {self.describe()}: {why}") from None
        except BotoCoreError as exc:  # no credentials, endpoint unreachable, bad region...
            raise S3Unavailable(f"cannot use {self.describe()}: {exc}") from None

    # -- writing ---------------------------------------------------------

    def put_file(self, key: str, src_path: Path, content_type: str) -> StoredObject:
        name = self._name(key)
        check_content_type(content_type)
        # Multipart for big files, on a few threads; one PUT for small ones.
        self._client.upload_file(
            str(src_path), self.bucket, name, ExtraArgs={"ContentType": content_type}, Config=self._transfer
        )
        return self.stat(key)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredObject:
        name = self._name(key)
        check_content_type(content_type)
        data = bytes(data)
        answer = self._client.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType=content_type)
        return StoredObject(key=key, bytes=len(data), content_type=content_type, etag=answer.get("ETag"))

    def delete(self, key: str) -> None:
        # S3 answers 204 whether or not the key held anything.
        self._client.delete_object(Bucket=self.bucket, Key=self._name(key))

    # -- reading ---------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        name = self._name(key)
        answer = self._call(key, self._client.get_object, Bucket=self.bucket, Key=name)
        with closing(answer["Body"]) as body:
            return body.read()

    def stat(self, key: str) -> StoredObject:
        answer = self._head(key)
        return StoredObject(
            key=key,
            bytes=int(answer["ContentLength"]),
            content_type=answer.get("ContentType") or _FALLBACK_CONTENT_TYPE,
            etag=answer.get("ETag"),
        )

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ObjectNotFound:
            return False
        return True

    def open_range(self, key: str, start: int, end_inclusive: int) -> Iterator[bytes]:
        name = self._name(key)
        if not (0 <= start <= end_inclusive):
            raise ValueError(f"byte range {start}-{end_inclusive} is empty or negative ({key!r})")
        from botocore.exceptions import ClientError

        # One request, sent now: a missing key or a range past the end fails at the call site.
        try:
            answer = self._call(
                key, self._client.get_object, Bucket=self.bucket, Key=name, Range=f"bytes={start}-{end_inclusive}"
            )
        except ClientError as exc:
            if _error_code(exc) in ("InvalidRange", "416"):  # starts at or past the end (or the object is empty)
                raise ValueError(f"byte range {start}-{end_inclusive} is outside {key!r}") from None
            raise
        body = answer["Body"]
        ranged = bool(answer.get("ContentRange"))
        # S3 silently shortens a range that runs past the end; the protocol refuses it.
        size = _total_size(answer.get("ContentRange"), answer.get("ContentLength"))
        if size is None or end_inclusive >= size:
            body.close()
            raise ValueError(f"byte range {start}-{end_inclusive} is outside {key!r} ({size} bytes)")
        # A server that ignored the Range header sends the whole object: skip to ``start``.
        return _stream(body, skip=0 if ranged else start, length=end_inclusive - start + 1)

    def local_path(self, key: str) -> Path | None:
        self._head(key)  # ObjectNotFound for a missing key, as every store does
        return None

    def list_objects(self, prefix: str, *, start_after: str | None = None) -> Iterator[ListedObject]:
        checked_storage_prefix(prefix)
        return self._list(prefix, start_after)

    # -- helpers ---------------------------------------------------------

    def _name(self, key: str) -> str:
        """The S3 key for ``key`` (validated)."""
        return self.prefix + checked_storage_key(key)

    def _head(self, key: str) -> dict:
        return self._call(key, self._client.head_object, Bucket=self.bucket, Key=self._name(key))

    @staticmethod
    def _call(key: str, method: Any, **kwargs: Any) -> Any:
        """``method(**kwargs)``, with S3's "no such key" raised as :class:`ObjectNotFound`."""
        from botocore.exceptions import ClientError

        try:
            return method(**kwargs)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from None
            raise

    def _list(self, prefix: str, start_after: str | None) -> Iterator[ListedObject]:
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after is not None:
            arguments["StartAfter"] = self.prefix + start_after
        # ListObjectsV2 returns keys in UTF-8 byte order, which is code point order.
        for page in self._client.get_paginator("list_objects_v2").paginate(**arguments):
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                try:
                    checked_storage_key(key)
                except ValueError:
                    continue  # a "folder/" marker or a name no key can have: not ours
                yield ListedObject(key=key, bytes=int(item["Size"]), modified_at=item["LastModified"].timestamp())


def _make_client(endpoint_url: str | None, region: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise S3Unavailable(f"S3 storage needs boto3, which is not installed: {INSTALL_HINT}") from None
    s3_options = {"addressing_style": "path"} if endpoint_url else {}
    config = Config(
        connect_timeout=10,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 3},
        max_pool_connections=_MAX_POOL_CONNECTIONS,
        s3=s3_options,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def s3_folder(prefix: str) -> str:
    """The normal form of an S3 key prefix (``ValueError`` if no key could live under it).

    ``"a/b"``, ``"a/b/"`` and ``"/a/b/"`` all mean the folder ``"a/b/"``; ``""`` the whole bucket.
    """
    bare = (prefix or "").strip("/")
    if not bare:
        return ""
    try:
        checked_storage_key(bare)
    except ValueError as exc:
        raise ValueError(f"invalid S3 prefix {prefix!r}: {exc}") from None
    return f"{bare}/"


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _total_size(content_range: str | None, content_length: Any) -> int | None:
    """The object's size from a ranged GET's ``Content-Range`` (``bytes 0-9/1234``)."""
    if content_range:
        match = _CONTENT_RANGE.fullmatch(content_range.strip())
        return int(match.group(3)) if match else None
    # A server that ignored the Range header sent the whole object.
    return int(content_length) if content_length is not None else None


def _stream(body: Any, *, skip: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of the body after the first ``skip``, in chunks of at most :data:`CHUNK_SIZE`.

    The connection goes back to the pool when the generator ends or is closed.
    """
    with closing(body):
        for chunk in body.iter_chunks(CHUNK_SIZE):
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            chunk = chunk[:length]
            if chunk:
                length -= len(chunk)
                yield chunk
            if length <= 0:
                return
