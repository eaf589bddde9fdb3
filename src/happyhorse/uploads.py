"""Uploaded images: checked once, stored once, referenced by ``upload_id``."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from happyhorse.db.clock import db_now
from happyhorse.db.schema import uploads
from happyhorse.errors import InvalidRequest, NotFound
from happyhorse.ids import new_id
from happyhorse.inputs.images import ImageInfo, inspect_image
from happyhorse.storage.base import Storage

_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "bmp": "bmp"}


@dataclass(frozen=True)
class Upload:
    id: str
    account_id: str
    storage_key: str
    content_type: str
    bytes: int
    width: int
    height: int
    created_at: float

    def to_api(self) -> dict:
        return {
            "upload_id": self.id,
            "object": "upload",
            "content_type": self.content_type,
            "bytes": self.bytes,
            "width": self.width,
            "height": self.height,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at)),
        }


def store_image(storage: Storage, data: bytes, *, param: str, max_bytes: int) -> tuple[str, ImageInfo]:
    """Check an image's bytes against SPEC §3 and store them; returns (upload id, info).

    The row is written by :func:`insert_upload`, in the caller's transaction."""
    info = inspect_image(data, param=param, max_bytes=max_bytes)
    upload_id = new_id("upload")
    storage.put_bytes(f"uploads/{upload_id}.{_EXTENSIONS[info.format]}", data, info.content_type)
    return upload_id, info


def insert_upload(conn: Connection, upload_id: str, account_id: str, data: bytes, info: ImageInfo) -> Upload:
    key = f"uploads/{upload_id}.{_EXTENSIONS[info.format]}"
    values = dict(
        id=upload_id,
        account_id=account_id,
        storage_key=key,
        content_type=info.content_type,
        bytes=len(data),
        width=info.width,
        height=info.height,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    created_at = conn.execute(
        uploads.insert().values(**values, created_at=db_now(conn.dialect.name)).returning(uploads.c.created_at)
    ).scalar_one()
    return Upload(
        id=upload_id, account_id=account_id, storage_key=key, content_type=info.content_type,
        bytes=len(data), width=info.width, height=info.height, created_at=created_at,
    )


def get_upload(conn: Connection, account_id: str, upload_id: str, *, param: str) -> Upload:
    """The account's upload, or an error naming ``param`` (another account's upload does not exist)."""
    row = conn.execute(
        select(uploads).where(uploads.c.id == upload_id, uploads.c.account_id == account_id)
    ).first()
    if row is None:
        raise InvalidRequest(
            "upload_not_found", f"{param}: no upload {upload_id!r} in this account; upload it with POST /v1/uploads", param
        )
    return _upload(row)


def find_same_upload(conn: Connection, account_id: str, data: bytes) -> Upload | None:
    """The account's earliest upload of exactly these bytes, if any: uploading them again
    (a retry whose first answer was lost) gives that upload back instead of a copy."""
    row = conn.execute(
        select(uploads)
        .where(uploads.c.account_id == account_id, uploads.c.sha256 == hashlib.sha256(data).hexdigest(),
               uploads.c.bytes == len(data))
        .order_by(uploads.c.created_at, uploads.c.id)
        .limit(1)
    ).first()
    return None if row is None else _upload(row)


def _upload(row) -> Upload:  # type: ignore[no-untyped-def]
    m = row._mapping
    return Upload(
        id=m["id"], account_id=m["account_id"], storage_key=m["storage_key"], content_type=m["content_type"],
        bytes=m["bytes"], width=m["width"], height=m["height"], created_at=m["created_at"],
    )


def lookup_upload(conn: Connection, account_id: str, upload_id: str) -> Upload:
    """Like :func:`get_upload` but a 404 (for ``GET /v1/uploads/{id}``)."""
    try:
        return get_upload(conn, account_id, upload_id, param="upload_id")
    except InvalidRequest:
        raise NotFound("upload_not_found", f"no upload {upload_id!r} in this account", "upload_id") from None
