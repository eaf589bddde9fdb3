"""``POST /v1/videos/generations``: submit a job."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from happyhorse.api.body import read_form, read_json_object
from happyhorse.api.deps import CurrentAccount, RuntimeDep, base_url
from happyhorse.api.presenters import job_object
from happyhorse.api.schemas import GENERATION_REQUEST_BODY, JobObject
from happyhorse.errors import InvalidRequest
from happyhorse.generation_request import parse_generation_request
from happyhorse.submission import submit_generation

router = APIRouter(tags=["videos"])


@router.post(
    "/v1/videos/generations",
    status_code=202,
    summary="Submit a video generation job",
    response_model=JobObject,
    openapi_extra={"requestBody": GENERATION_REQUEST_BODY},
)
async def create_generation(request: Request, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """Validate the request, queue a job and answer ``202`` with it and a ``Location`` header.

    Send JSON, or ``multipart/form-data`` whose ``image`` file parts count as images."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = runtime.settings.max_body_bytes
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields, parts = await read_form(request, limit, file_field="image")
        generation = parse_generation_request(fields, image_parts=len(parts), from_form=True)
    elif content_type in ("application/json", "") or content_type.endswith("+json"):
        fields, parts = await read_json_object(request, limit), []
        generation = parse_generation_request(fields)
    else:
        raise InvalidRequest(
            "unsupported_content_type",
            f"send application/json or multipart/form-data, not {content_type!r}",
            None,
        )
    job, position = await run_in_threadpool(submit_generation, runtime, account.id, generation, parts)
    body = job_object(
        job, queue_position=position, signer=runtime.signer, base_url=base_url(request),
        url_ttl=runtime.settings.url_ttl_seconds,
    )
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})
