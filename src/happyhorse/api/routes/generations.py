"""``POST /v1/videos/generations``: submit a job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from happyhorse.api.body import read_form, read_json_object
from happyhorse.api.deps import CurrentAccount, RuntimeDep
from happyhorse.api.presenters import present_job
from happyhorse.api.schemas import GENERATION_REQUEST_BODY, JobObject, QuoteObject, error_responses
from happyhorse.submit.idempotency import HEADER, checked_idempotency_key
from happyhorse.errors import InvalidRequest
from happyhorse.jobs.views import JobView
from happyhorse.runtime import Runtime
from happyhorse.submit.quote import quote_generation
from happyhorse.submit.request import GenerationRequest, parse_generation_request
from happyhorse.submit.service import submit_idempotent

router = APIRouter(tags=["videos"])

_IDEMPOTENCY_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "Up to 255 printable ASCII characters (a UUID, say). The same key with the same request "
    "within 24 h returns the first job (200); with another request it is a 422; while the first request "
    "is still being processed, a 409 `idempotency_key_in_flight` (retry).",
    # What arrives after HTTP has trimmed the value: no space at either end.
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[!-~]([ -~]*[!-~])?$"},
}


_LOCATION = {"description": "the job's URL, /v1/jobs/{job_id}", "schema": {"type": "string"}, "required": True}
_REPLAYED = {"description": "`true`: this is the first request's job", "schema": {"type": "string", "enum": ["true"]},
             "required": True}


@router.post(
    "/v1/videos/generations",
    status_code=202,
    summary="Submit a video generation job",
    response_model=JobObject,
    openapi_extra={"requestBody": GENERATION_REQUEST_BODY, "parameters": [_IDEMPOTENCY_PARAMETER]},
    responses={
        202: {"description": "the job, queued", "headers": {"Location": _LOCATION}},
        200: {
            "model": JobObject,
            "description": "an `Idempotency-Key` replay: the job of the first request",
            "headers": {"Location": _LOCATION, "Idempotent-Replayed": _REPLAYED},
        },
        **error_responses(
            400, 401, 402, 409, 413, 422, 429, 503,
            e409="a request with this `Idempotency-Key` is still in flight (`idempotency_key_in_flight`)",
        ),
    },
)
async def create_generation(request: Request, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """Validate the request, hold its price, queue a job and answer ``202`` with it and a ``Location`` header.

    Send JSON, or ``multipart/form-data`` whose ``image`` file parts count as images.
    With an ``Idempotency-Key``, repeating the same request within 24 h answers
    ``200`` with the first job (header ``Idempotent-Replayed: true``) instead of
    queuing another."""
    key = checked_idempotency_key(request.headers.get(HEADER))
    fields, parts, generation = await read_generation(request, runtime)
    submitted = await run_in_threadpool(
        submit_idempotent, runtime, account.id, generation, parts, key=key, fields=fields
    )
    job, location = submitted.job, {"Location": f"/v1/jobs/{submitted.job.id}"}
    if submitted.replayed:
        # The first job as it is now (it may have run since), not a copy of the first answer.
        # submit_idempotent has just read it: fetch only what showing it adds (usage, outputs).
        [view] = await run_in_threadpool(runtime.queue.views, [job])
        body = present_job(view, request, runtime)
        return JSONResponse(body, status_code=200, headers={**location, "Idempotent-Replayed": "true"})
    body = present_job(JobView(job, submitted.queue_position), request, runtime)
    return JSONResponse(body, status_code=202, headers=location)


async def read_generation(request: Request, runtime: Runtime) -> tuple[dict[str, Any], list[bytes], GenerationRequest]:
    """The submit body (JSON, or a form whose ``image`` file parts count as images), parsed by the §3 rules:
    ``(fields as sent, image parts, the request)``. Submit and quote read bodies only here."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = runtime.settings.max_body_bytes
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields, parts = await read_form(request, limit, file_field="image",
                                        max_file_bytes=runtime.settings.max_image_bytes)
        return fields, parts, parse_generation_request(fields, image_parts=len(parts), from_form=True)
    if content_type in ("application/json", "") or content_type.endswith("+json"):
        fields = await read_json_object(request, limit)
        return fields, [], parse_generation_request(fields)
    raise InvalidRequest(
        "unsupported_content_type",
        f"send application/json or multipart/form-data, not {content_type!r}",
        None,
    )


@router.post(
    "/v1/videos/generations/quote",
    response_model=QuoteObject,
    summary="Quote a video generation: price, balance and ETA, nothing submitted",
    openapi_extra={"requestBody": GENERATION_REQUEST_BODY},
    responses=error_responses(400, 401, 413, 429, 503),
)
async def quote_generation_route(request: Request, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """The submit body, checked by every rule of the submit (same errors), answered with what
    it would cost, whether the account can afford it and when it would be done. Nothing is
    created or held; image URLs are not fetched (see ``request.aspect_ratio``)."""
    fields, parts, generation = await read_generation(request, runtime)
    quote = await run_in_threadpool(quote_generation, runtime, account.id, generation, parts,
                                    seed_given=fields.get("seed") not in (None, ""))
    return JSONResponse(quote)
