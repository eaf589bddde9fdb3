"""Uploaded images: checked once, stored once, referenced by ``upload_id``.

An account's stored uploads are capped in bytes (``Settings.max_stored_upload_bytes``,
checked by :func:`ensure_upload_quota` when ``POST /v1/uploads`` stores a new one), and
an upload expires ``Settings.upload_ttl_seconds`` after it was last used: stored,
named by a submit (:func:`use_upload`) or uploaded again. Expired ones are deleted by
the storage sweep (:func:`expired_uploads`, :func:`delete_expired_upload`), never
while a queued or running job names them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts, jobs, uploads
from happyhorse.errors import InvalidRequest, NotFound, RateLimited
from happyhorse.jobs.status import TERMINAL
from happyhorse.ids import new_id
from happyhorse.inputs.images import ImageInfo, inspect_image
from happyhorse.storage.base import Storage

log = logging.getLogger("happyhorse.inputs.uploads")

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
    storage.put_bytes(upload_key(upload_id, info), data, info.content_type)
    return upload_id, info


def upload_key(upload_id: str, info: ImageInfo) -> str:
    """Where an upload's bytes are stored."""
    return f"uploads/{upload_id}.{_EXTENSIONS[info.format]}"


def forget_stored_image(storage: Storage, upload_id: str, info: ImageInfo) -> None:
    """Delete an image :func:`store_image` stored whose row was then not written (a refused request);
    best effort: if the store is failing, the sweep's orphan pass deletes it later."""
    try:
        storage.delete(upload_key(upload_id, info))
    except Exception:
        log.warning("could not delete %s, stored for a request that was then refused", upload_id, exc_info=True)


def insert_upload(conn: Connection, upload_id: str, account_id: str, data: bytes, info: ImageInfo) -> Upload:
    key = upload_key(upload_id, info)
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
    now = db_now(conn.dialect.name)
    created_at = conn.execute(
        uploads.insert().values(**values, created_at=now, last_used_at=now).returning(uploads.c.created_at)
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


def use_upload(conn: Connection, account_id: str, upload_id: str, *, param: str) -> Upload:
    """Like :func:`get_upload`, in a write transaction, and marks the upload used now.

    The update locks the row until commit, so an expiry that would delete it
    (which needs it unused since its cutoff) waits for this transaction and
    then leaves it alone: a job never names an upload the sweep deleted."""
    touch_upload(conn, account_id, upload_id)
    return get_upload(conn, account_id, upload_id, param=param)


def touch_upload(conn: Connection, account_id: str, upload_id: str) -> bool:
    """Mark the account's upload used now; False if there is no such upload."""
    changed = conn.execute(
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.account_id == account_id)
        .values(last_used_at=db_now(conn.dialect.name))
    ).rowcount
    return changed == 1


UPLOAD_QUOTA_RETRY_AFTER_SECONDS = 3600
"""What a 429 ``upload_quota_exceeded`` tells clients to wait: unused uploads expire by the hour."""


def ensure_upload_quota(conn: Connection, account_id: str, new_bytes: int, cap: int, ttl_seconds: float) -> None:
    """Raise 429 ``upload_quota_exceeded`` if storing ``new_bytes`` more would put the account's
    uploads over ``cap`` bytes (0: no cap). Locks the account's row first, so two uploads of one
    account at once are counted one after the other (SQLite: the write transaction does)."""
    if cap <= 0:
        return
    conn.execute(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())
    stored = conn.execute(
        select(func.coalesce(func.sum(uploads.c.bytes), 0)).where(uploads.c.account_id == account_id)
    ).scalar_one()
    if stored + new_bytes > cap:
        expiry = (f"uploads expire {_duration(ttl_seconds)} after they were last used"
                  if ttl_seconds > 0 else "this server keeps uploads until an operator deletes them")
        raise RateLimited(
            "upload_quota_exceeded",
            f"this account stores {_megabytes(stored)} of uploads and may store at most {_megabytes(cap)}; "
            f"this image ({_megabytes(new_bytes)}) does not fit. Send images inline (data URI or multipart) "
            f"or reuse an upload_id; {expiry}",
            "file",
            headers={"Retry-After": str(UPLOAD_QUOTA_RETRY_AFTER_SECONDS)},
        )


def expired_uploads(
    conn: Connection, cutoff: float, *, limit: int, after: tuple[float, str] | None = None
) -> tuple[list[tuple[str, str]], tuple[float, str] | None]:
    """The next ``limit`` uploads last used at or before ``cutoff`` (after the cursor ``after``, oldest
    first), less those a queued or running job names: ``([(upload_id, storage_key)], cursor)``. The
    cursor is where the next call goes on, ``None`` once the last of them was read."""
    query = (
        select(uploads.c.id, uploads.c.storage_key, uploads.c.last_used_at, uploads.c.account_id)
        .where(uploads.c.last_used_at <= cutoff)
        .order_by(uploads.c.last_used_at, uploads.c.id)
        .limit(limit)
    )
    if after is not None:
        used_at, upload_id = after
        query = query.where(or_(uploads.c.last_used_at > used_at,
                                and_(uploads.c.last_used_at == used_at, uploads.c.id > upload_id)))
    rows = conn.execute(query).all()
    cursor = (rows[-1].last_used_at, rows[-1].id) if len(rows) == limit else None
    if not rows:
        return [], cursor
    in_use = _named_by_unfinished_jobs(conn, {row.account_id for row in rows})
    return [(row.id, row.storage_key) for row in rows if row.id not in in_use], cursor


def _named_by_unfinished_jobs(conn: Connection, account_ids: set[str]) -> set[str]:
    """Upload ids that the accounts' queued and running jobs take as inputs (the queued cap bounds them)."""
    requests = conn.execute(
        select(jobs.c.request)
        .where(jobs.c.account_id.in_(account_ids), jobs.c.status.not_in([status.value for status in TERMINAL]))
    ).scalars()
    return {
        item["upload_id"]
        for request in requests
        for item in (request or {}).get("inputs", [])
        if item.get("kind") == "upload"
    }


def delete_expired_upload(conn: Connection, upload_id: str, cutoff: float) -> bool:
    """Delete the upload's row if it is still unused since ``cutoff``; False if it was used meanwhile
    (a submit's :func:`use_upload` holds the row until it commits, then this finds it fresh)."""
    deleted = conn.execute(
        uploads.delete().where(uploads.c.id == upload_id, uploads.c.last_used_at <= cutoff)
    ).rowcount
    return deleted == 1


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g} hours" if hours >= 1 else f"{seconds:g} seconds"


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
