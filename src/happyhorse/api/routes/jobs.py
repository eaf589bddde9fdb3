"""The caller's jobs: retrieve, list, cancel, delete, content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from happyhorse.accounts import LAST_USED_RESOLUTION_SECONDS, authenticate, checked_key, hash_key, touch_key
from happyhorse.api.deps import CurrentAccount, RuntimeDep, base_url, read_db
from happyhorse.api.presenters import present_job
from happyhorse.api.schemas import JOB_ID_PATTERN, JobDeleted, JobIdPath, JobList, JobObject, error_responses
from happyhorse.errors import Conflict
from happyhorse.ids import is_id
from happyhorse.jobs.deletion import delete_job as delete_ended_job
from happyhorse.jobs.queries import job_not_found
from happyhorse.jobs.status import Status
from happyhorse.runtime import Runtime

router = APIRouter(tags=["jobs"])


def checked_job_id(job_id: str) -> str:
    """``job_id``, or the 404 of a missing job if it cannot be one: a malformed id never
    reaches the database (PostgreSQL refuses a NUL in text with an error, not a miss)."""
    if not is_id(job_id, "job"):
        raise job_not_found(job_id)
    return job_id


async def poll_job(request: Request) -> JSONResponse:
    """``GET /v1/jobs/{job_id}``: the endpoint clients poll.

    It authenticates and reads in one query, and it is mounted as a plain
    Starlette route ahead of FastAPI's (``create_app``): FastAPI's dependency
    machinery would cost more than the rest of the request. It raises the same
    errors as ``CurrentAccount``; :func:`retrieve_job` documents it."""
    job_id = request.path_params["job_id"]
    runtime: Runtime = request.app.state.runtime
    key_hash = hash_key(checked_key(request.headers.get("authorization")))

    found = None
    if is_id(job_id, "job"):  # else the slow path answers 401 or 404
        found = await read_db(runtime, lambda: runtime.queue.get_for_key(job_id, key_hash))
    if found is None:
        # A bad key (401) or no such job for this account (404). Off the event loop:
        # authenticating may write the key's last-used time, and writes can wait for a lock.
        def slow_path() -> dict:
            account = authenticate(runtime.db, request.headers.get("authorization"))
            return present_job(runtime.queue.view(checked_job_id(job_id), account_id=account.id), request, runtime)

        return JSONResponse(await run_in_threadpool(slow_path))
    if found.key_last_used_at is None or found.db_now - found.key_last_used_at > LAST_USED_RESOLUTION_SECONDS:
        await run_in_threadpool(touch_key, runtime.db, found.key_id, last_used_at=found.key_last_used_at, now=found.db_now)
    # Position, usage and outputs came with the query: presenting touches no database.
    return JSONResponse(present_job(found.view, request, runtime))


POLL_ROUTE = Route("/v1/jobs/{job_id}", poll_job, methods=["GET"])


@router.get("/v1/jobs/{job_id}", response_model=JobObject, summary="Retrieve a job",
            responses=error_responses(401, 404, 429, 503))
async def retrieve_job(job_id: JobIdPath, request: Request) -> JSONResponse:
    """One job: its status, progress, queue position, result (with fresh signed URLs) and usage."""
    return await poll_job(request)


@router.get("/v1/jobs", response_model=JobList, summary="List the caller's jobs, newest first",
            responses=error_responses(400, 401, 429, 503))
async def list_jobs(
    request: Request,
    runtime: RuntimeDep,
    account: CurrentAccount,
    limit: Annotated[int, Query(ge=1, le=100, description="page size, 1-100")] = 20,
    after: Annotated[str | None, Query(pattern=JOB_ID_PATTERN, description="the last_id of the previous page")] = None,
) -> JSONResponse:
    def load() -> dict:
        jobs, has_more = runtime.queue.list_jobs(account.id, limit=limit, after=after)
        # Positions, usages and outputs in a few queries for the page, not per job.
        data = [present_job(view, request, runtime) for view in runtime.queue.views(jobs)]
        return {"object": "list", "data": data, "has_more": has_more, "last_id": jobs[-1].id if jobs else None}

    return JSONResponse(await run_in_threadpool(load))


@router.post(
    "/v1/jobs/{job_id}/cancel",
    response_model=JobObject,
    summary="Cancel a queued or running job",
    responses=error_responses(401, 404, 409, 429, 503, e409="the job has already ended (`job_not_cancellable`)"),
)
async def cancel_job(job_id: JobIdPath, request: Request, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """A queued job is cancelled at once; a running one stops at the engine's next step
    (its status turns ``cancelled`` then). Either way its credit hold is released.
    Cancelling an ended job is a 409."""

    def cancel() -> dict:
        # A queued job's hold is released in the cancelling transaction; a running
        # job's when its worker acknowledges (or the reaper ends it).
        cancelled = runtime.queue.request_cancel(account.id, checked_job_id(job_id))
        return present_job(runtime.queue.views([cancelled])[0], request, runtime)

    return JSONResponse(await run_in_threadpool(cancel))


@router.delete(
    "/v1/jobs/{job_id}",
    response_model=JobDeleted,
    summary="Delete an ended job and its files",
    responses=error_responses(401, 404, 409, 429, 503, e409="the job is queued or running (`job_not_ended`): cancel it first"),
)
async def delete_job(job_id: JobIdPath, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """Delete a completed, failed or cancelled job: its video, poster and input images
    (uploads no other job of the account uses) are removed from storage, and the job
    answers 404 and is no longer listed. Its charges stay in the account's ledger.
    A queued or running job is a 409 ``job_not_ended``; deleting twice is a 404."""
    await run_in_threadpool(delete_ended_job, runtime.db, runtime.storage, account.id, checked_job_id(job_id))
    return JSONResponse({"id": job_id, "object": "video.generation.job.deleted", "deleted": True})


@router.get(
    "/v1/jobs/{job_id}/content",
    status_code=307,
    summary="Download the video (redirects to a fresh signed URL)",
    responses={
        307: {
            "description": "redirect to a fresh signed URL of the video (or poster)",
            "headers": {"Location": {"description": "the signed URL", "schema": {"type": "string"}, "required": True}},
        },
        **error_responses(400, 401, 404, 409, 429, 503, e409="the job is not completed (`job_not_completed`)"),
    },
)
async def job_content(
    job_id: JobIdPath,
    request: Request,
    runtime: RuntimeDep,
    account: CurrentAccount,
    variant: Annotated[str, Query(pattern="^(video|poster)$", description="video or poster")] = "video",
) -> RedirectResponse:
    view = await run_in_threadpool(runtime.queue.view, checked_job_id(job_id), account_id=account.id)
    if view.job.status != Status.COMPLETED or not view.outputs:
        raise Conflict(
            "job_not_completed", f"job {job_id} is {view.job.status}; its content exists once it is completed", "job_id"
        )
    output = view.outputs[0]
    key = output.storage_key if variant == "video" else output.poster_key
    path, _ = runtime.signer.signed_path(key, runtime.settings.url_ttl_seconds)
    return RedirectResponse(base_url(request) + path, status_code=307)
