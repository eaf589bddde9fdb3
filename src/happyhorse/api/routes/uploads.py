"""``POST /v1/uploads``: upload an image once, use its ``upload_id`` in ``image``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from happyhorse.api.body import read_form, read_limited_body
from happyhorse.api.deps import CurrentAccount, RuntimeDep
from happyhorse.api.schemas import UPLOAD_REQUEST_BODY, UploadIdPath, UploadObject, error_responses
from happyhorse.errors import InvalidRequest, NotFound
from happyhorse.ids import is_id
from happyhorse.runtime import Runtime
from happyhorse.inputs.uploads import (
    Upload,
    ensure_upload_quota,
    find_same_upload,
    forget_stored_image,
    insert_upload,
    lookup_upload,
    store_image,
    touch_upload,
)

router = APIRouter(tags=["uploads"])


@router.post(
    "/v1/uploads",
    status_code=201,
    response_model=UploadObject,
    summary="Upload an image",
    openapi_extra={"requestBody": UPLOAD_REQUEST_BODY},
    responses={
        201: {"description": "the new upload"},
        200: {"model": UploadObject, "description": "these exact bytes were uploaded before: that upload"},
        **error_responses(400, 401, 413, 429, 503),
    },
)
async def create_upload(request: Request, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """Send one image as the multipart part ``file`` (or the raw bytes with an
    ``image/*`` content type). It is checked against the image rules now.
    Uploading the same bytes again (a retry whose answer was lost) answers ``200``
    with the first upload instead of storing a copy."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = runtime.settings.max_image_bytes + 64 * 1024
    if content_type == "multipart/form-data":
        fields, files = await read_form(request, limit, file_field="file",
                                        max_file_bytes=runtime.settings.max_image_bytes)
        if fields:
            name = sorted(fields)[0]
            raise InvalidRequest("unknown_field", f"unknown field {name!r}; send only the file part 'file'", name)
        if len(files) != 1:
            raise InvalidRequest("invalid_file_count", f"send exactly one file part named 'file', got {len(files)}", "file")
        data = files[0]
    elif content_type.startswith("image/"):
        data = await read_limited_body(request, limit)
    else:
        raise InvalidRequest(
            "unsupported_content_type", "send multipart/form-data with a 'file' part, or the image bytes as image/*", None
        )
    upload, created = await run_in_threadpool(_store, runtime, account.id, data)
    return JSONResponse(upload.to_api(), status_code=201 if created else 200)


def _store(runtime: Runtime, account_id: str, data: bytes) -> tuple[Upload, bool]:
    """The upload of ``data`` and whether it is new: the same bytes again give the same upload (200),
    marked used now. A new one must fit the account's upload quota: checked before anything is decoded
    or stored, and again, under the account's lock, in the transaction that records it."""
    settings = runtime.settings
    with runtime.db.begin() as conn:
        same = find_same_upload(conn, account_id, data)
        if same is not None and touch_upload(conn, account_id, same.id):
            return same, False
        ensure_upload_quota(conn, account_id, len(data), settings.max_stored_upload_bytes, settings.upload_ttl_seconds)
    upload_id, info = store_image(runtime.storage, data, param="file", max_bytes=settings.max_image_bytes)
    try:
        with runtime.db.begin() as conn:
            ensure_upload_quota(conn, account_id, len(data), settings.max_stored_upload_bytes,
                                settings.upload_ttl_seconds)
            return insert_upload(conn, upload_id, account_id, data, info), True
    except BaseException:
        forget_stored_image(runtime.storage, upload_id, info)
        raise


@router.get(
    "/v1/uploads/{upload_id}",
    response_model=UploadObject,
    summary="Retrieve an upload's metadata",
    responses=error_responses(401, 404, 429, 503),
)
async def retrieve_upload(upload_id: UploadIdPath, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    if not is_id(upload_id, "upload"):  # never one; and PostgreSQL text cannot hold NUL
        raise NotFound("upload_not_found", f"no upload {upload_id!r} in this account", "upload_id")
    def load() -> Upload:
        with runtime.db.connect().execution_options(readonly=True) as conn:
            return lookup_upload(conn, account.id, upload_id)

    return JSONResponse((await run_in_threadpool(load)).to_api())
