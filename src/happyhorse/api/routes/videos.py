"""``/v1/videos``: the jobs as OpenAI's Videos API shows them (SPEC §9), for the ``openai`` package.

A video is a job: the same rows, holds and ledger as the native routes, and
its ``id`` is the job's id. Create runs the native submit (same parser, same
service); delete and cancel run the native ones. What is OpenAI's here: the
request's field names (:mod:`happyhorse.submit.openai_request`), the ``Video``
object (:func:`~happyhorse.api.presenters.present_video`), the list's shape,
``openai-poll-after-ms`` on GETs and the content variants.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from happyhorse.api.body import read_form, read_json_object
from happyhorse.api.deps import CurrentAccount, RuntimeDep
from happyhorse.api.presenters import present_video
from happyhorse.api.routes.jobs import checked_job_id
from happyhorse.api.schemas import JobIdPath, error_responses
from happyhorse.api.video_schemas import (
    REMIX_BODY, VIDEO_CREATE_BODY, VIDEO_ID_PATTERN, VideoDeleted, VideoList, VideoObject,
)
from happyhorse.errors import Conflict, InvalidRequest, ServiceError
from happyhorse.jobs.deletion import delete_job as delete_ended_job
from happyhorse.jobs.status import Status
from happyhorse.jobs.views import JobView
from happyhorse.runtime import Runtime
from happyhorse.submit.idempotency import HEADER, checked_idempotency_key
from happyhorse.submit.openai_request import openai_to_native
from happyhorse.submit.request import GenerationRequest, parse_generation_request
from happyhorse.submit.service import Submitted, submit_idempotent

router = APIRouter(tags=["openai-compatible videos"])


class _VideoId(Convertor):
    """A ``{video_id}`` that is not ``generations``: ``/v1/videos/generations`` is the native submit
    (POST only), so a GET or DELETE there is a 405, not the lookup of a video called "generations"."""

    regex = "(?!generations$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("video_id", _VideoId())

POLL_AFTER_MS = 500
"""What ``openai-poll-after-ms`` tells the ``openai`` client's ``poll`` to wait between GETs."""
_POLL_HEADER = {"openai-poll-after-ms": {
    "description": "milliseconds the client should wait before polling again", "required": True,
    "schema": {"type": "integer", "minimum": 1},
}}
_IDEMPOTENCY_PARAMETER = {
    "name": HEADER, "in": "header", "required": False,
    "description": "as on POST /v1/videos/generations: the same key and request within 24 h returns the first video",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[!-~]([ -~]*[!-~])?$"},
}
_SUBMIT_ERRORS = error_responses(
    400, 401, 402, 409, 413, 422, 429, 503,
    e409="a request with this `Idempotency-Key` is still in flight (`idempotency_key_in_flight`)",
)


def _polled(body: dict) -> JSONResponse:
    return JSONResponse(body, headers={"openai-poll-after-ms": str(POLL_AFTER_MS)})


@router.post(
    "/v1/videos", response_model=VideoObject, summary="Create a video (OpenAI's videos.create)",
    openapi_extra={"requestBody": VIDEO_CREATE_BODY, "parameters": [_IDEMPOTENCY_PARAMETER]},
    responses={200: {"description": "the video, queued (or, for an `Idempotency-Key` replay, the first one)"},
               **_SUBMIT_ERRORS},
)
async def create_video(request: Request, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """multipart/form-data (what the ``openai`` client always sends) or JSON; see SPEC §9 for the fields."""
    key = checked_idempotency_key(request.headers.get(HEADER))
    sent, parts, from_form = await _read_body(request, runtime)
    translated = openai_to_native(sent, file_parts=len(parts), from_form=from_form)
    try:
        generation = parse_generation_request(translated.fields, image_parts=len(parts), from_form=from_form)
        submitted = await run_in_threadpool(
            submit_idempotent, runtime, account.id, generation, parts, key=key, fields=sent
        )
    except ServiceError as error:
        error.param = translated.params.get(error.param or "", error.param)
        raise
    return await _answer(request, runtime, submitted)


async def _read_body(request: Request, runtime: Runtime) -> tuple[dict[str, Any], list[bytes], bool]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = runtime.settings.max_body_bytes
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields, parts = await read_form(request, limit, file_field="input_reference",
                                        max_file_bytes=runtime.settings.max_image_bytes)
        return fields, parts, True
    if content_type in ("application/json", "") or content_type.endswith("+json"):
        return await read_json_object(request, limit), [], False
    raise InvalidRequest(
        "unsupported_content_type", f"send multipart/form-data or application/json, not {content_type!r}", None
    )


async def _answer(request: Request, runtime: Runtime, submitted: Submitted) -> JSONResponse:
    headers = {"Location": f"/v1/videos/{submitted.job.id}"}
    if submitted.replayed:
        [view] = await run_in_threadpool(runtime.queue.views, [submitted.job])
        headers["Idempotent-Replayed"] = "true"
    else:
        view = JobView(submitted.job, submitted.queue_position)
    return JSONResponse(present_video(view, runtime), headers=headers)


@router.get(
    "/v1/videos/{video_id:video_id}", response_model=VideoObject, summary="Retrieve a video (OpenAI's videos.retrieve)",
    responses={200: {"description": "the video", "headers": _POLL_HEADER}, **error_responses(401, 404, 429, 503)},
)
async def retrieve_video(video_id: JobIdPath, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    view = await run_in_threadpool(runtime.queue.view, checked_job_id(video_id), account_id=account.id)
    return _polled(present_video(view, runtime))


@router.get(
    "/v1/videos", response_model=VideoList, summary="List videos (OpenAI's videos.list)",
    responses={200: {"description": "one page", "headers": _POLL_HEADER}, **error_responses(400, 401, 429, 503)},
)
async def list_videos(
    runtime: RuntimeDep,
    account: CurrentAccount,
    limit: Annotated[int, Query(ge=1, le=100, description="page size, 1-100")] = 20,
    after: Annotated[str | None, Query(pattern=VIDEO_ID_PATTERN, description="the last_id of the previous page")] = None,
    order: Annotated[str, Query(pattern="^(asc|desc)$", description="desc (newest first) or asc")] = "desc",
) -> JSONResponse:
    def load() -> dict:
        jobs, has_more = runtime.queue.list_jobs(account.id, limit=limit, after=after, newest_first=order == "desc")
        data = [present_video(view, runtime) for view in runtime.queue.views(jobs)]
        return {"object": "list", "data": data, "first_id": jobs[0].id if jobs else None,
                "last_id": jobs[-1].id if jobs else None, "has_more": has_more}

    return _polled(await run_in_threadpool(load))


@router.delete(
    "/v1/videos/{video_id:video_id}", response_model=VideoDeleted,
    summary="Delete an ended video (OpenAI's videos.delete)",
    responses=error_responses(401, 404, 409, 429, 503, e409="the video is queued or running (`job_not_ended`)"),
)
async def delete_video(video_id: JobIdPath, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """As ``DELETE /v1/jobs/{id}``: files gone, 404 afterwards, charges kept in the ledger."""
    await run_in_threadpool(delete_ended_job, runtime.db, runtime.storage, account.id, checked_job_id(video_id))
    return JSONResponse({"id": video_id, "object": "video.deleted", "deleted": True})


@router.post(
    "/v1/videos/{video_id}/cancel", response_model=VideoObject, summary="Cancel a queued or running video (ours)",
    responses=error_responses(401, 404, 409, 429, 503, e409="the video has already ended (`job_not_cancellable`)"),
)
async def cancel_video(video_id: JobIdPath, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """As ``POST /v1/jobs/{id}/cancel``; not in OpenAI's API (``client.post(...)`` reaches it)."""

    def cancel() -> dict:
        cancelled = runtime.queue.request_cancel(account.id, checked_job_id(video_id))
        return present_video(runtime.queue.views([cancelled])[0], runtime)

    return JSONResponse(await run_in_threadpool(cancel))


@router.post(
    "/v1/videos/{video_id}/remix", response_model=VideoObject, summary="Remix a video (OpenAI's videos.remix)",
    openapi_extra={"requestBody": REMIX_BODY, "parameters": [_IDEMPOTENCY_PARAMETER]},
    responses={200: {"description": "the new video, queued"}, **_SUBMIT_ERRORS, **error_responses(404)},
)
async def remix_video(
    video_id: JobIdPath, request: Request, runtime: RuntimeDep, account: CurrentAccount
) -> JSONResponse:
    """A new video with the original's settings, seed and images and a new ``prompt``;
    its ``remixed_from_video_id`` names the original."""
    key = checked_idempotency_key(request.headers.get(HEADER))
    body = await read_json_object(request, runtime.settings.max_body_bytes)
    for name in body:
        if name != "prompt":
            raise InvalidRequest("unknown_field", f"unknown field {name!r}; a remix takes only prompt", name)
    if "prompt" not in body:
        raise InvalidRequest("missing_required_field", "prompt is required: describe the new video", "prompt")
    original = await run_in_threadpool(runtime.queue.get, checked_job_id(video_id), account.id)
    generation = dataclasses.replace(_remix_of(original.model, original.request, body["prompt"]),
                                     remixed_from=original.id)
    submitted = await run_in_threadpool(
        submit_idempotent, runtime, account.id, generation, [], key=key,
        fields={"remix_of": original.id, "prompt": body["prompt"]},
    )
    return await _answer(request, runtime, submitted)


def _remix_of(model: str, stored: Any, prompt: Any) -> GenerationRequest:
    """The original's request with ``prompt``, checked by the §3 rules like any submit."""
    fields: dict[str, Any] = {
        "model": model, "prompt": prompt, "mode": stored.mode, "resolution": stored.resolution,
        "duration": stored.duration, "seed": stored.seed, "watermark": stored.watermark,
        "image": [item.upload_id if item.kind == "upload" else item.url for item in stored.inputs],
    }
    if stored.aspect_ratio is not None:
        fields["aspect_ratio"] = stored.aspect_ratio
    return parse_generation_request(fields)


_CONTENT_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "spritesheet": "image/jpeg"}


@router.get(
    "/v1/videos/{video_id}/content", response_class=Response,
    summary="Download a video's MP4, thumbnail or sprite sheet (OpenAI's videos.download_content)",
    responses={
        200: {"description": "video: the MP4; thumbnail: the poster (JPEG); spritesheet: 10 frames evenly "
                             "spaced in a 5×2 grid of 256-pixel-wide tiles (JPEG)",
              "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}},
                          "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(400, 401, 404, 409, 429, 503, e409="the video is not completed (`job_not_completed`)"),
    },
)
async def video_content(
    video_id: JobIdPath,
    runtime: RuntimeDep,
    account: CurrentAccount,
    variant: Annotated[str, Query(pattern="^(video|thumbnail|spritesheet)$",
                                  description="video, thumbnail or spritesheet")] = "video",
) -> Response:
    def load() -> bytes:
        view = runtime.queue.view(checked_job_id(video_id), account_id=account.id)
        if view.job.status != Status.COMPLETED or not view.outputs:
            raise Conflict("job_not_completed", f"video {video_id} is {view.job.status}; its content exists once "
                           "it is completed", "video_id")
        output = view.outputs[0]
        if variant == "thumbnail":
            return runtime.storage.get_bytes(output.poster_key)
        if variant == "video":
            return runtime.storage.get_bytes(output.storage_key)
        return _sprite_sheet(runtime, output.storage_key)

    return Response(await run_in_threadpool(load), media_type=_CONTENT_TYPES[variant])


def _sprite_sheet(runtime: Runtime, key: str) -> bytes:
    import tempfile

    from happyhorse.media.spritesheet import sprite_sheet

    local = runtime.storage.local_path(key)
    if local is not None:
        return sprite_sheet(local)
    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:  # a remote store (S3): decode a local copy
        file.write(runtime.storage.get_bytes(key))
        file.flush()
        return sprite_sheet(file.name)
