"""``GET /v1/jobs/{job_id}/events``: Server-Sent Events until the job ends.

Each change of status, progress or queue position is sent as an ``event: job``
whose ``data`` is the job object; the stream closes after the terminal one, or
without another event once its key stops working (revoked, or the dashboard
session behind it ended). A comment line every 15 s keeps proxies from closing
an idle stream.

An API key may keep ``max_streams_per_key`` streams open at once (per API
process; 429 ``too_many_streams`` past it). Open streams do not read the
database themselves: one poller per process reads every watched job each tick
and wakes the streams whose job changed (see :mod:`happyhorse.api.streams`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from happyhorse.accounts import checked_key, hash_key
from happyhorse.api.deps import CurrentAccount, RuntimeDep
from happyhorse.api.presenters import present_job
from happyhorse.api.routes.jobs import checked_job_id
from happyhorse.api.schemas import JobIdPath, error_responses
from happyhorse.api.shared_limits import StreamSlots, shared_limits_apply
from happyhorse.api.streams import OpenStream, StreamHub
from happyhorse.jobs.status import TERMINAL, Status
from happyhorse.jobs.watching import snapshot_state
from happyhorse.runtime import Runtime

router = APIRouter(tags=["jobs"])

KEEPALIVE_SECONDS = 15.0
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(StreamingResponse):
    """A stream that calls ``on_close`` however it ends: finished, client gone, or never started."""

    def __init__(self, content: AsyncIterator[bytes], *, on_close: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=_HEADERS)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


@router.get(
    "/v1/jobs/{job_id}/events",
    summary="Stream a job's status and progress (Server-Sent Events) until it ends",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`event: job` lines with the job object"},
        **error_responses(401, 404, 429, 503),
    },
)
async def job_events(
    job_id: JobIdPath, request: Request, runtime: RuntimeDep, account: CurrentAccount
) -> StreamingResponse:
    # The slot is named by the key (authentication has just accepted this header) and its account.
    hub = stream_hub(request.app, runtime)
    stream = hub.open(hash_key(checked_key(request.headers.get("authorization"))), account.id)
    try:
        # The job first, so a foreign or missing job is a plain 404, not an empty stream; off the loop.
        def first_event() -> dict:
            job = runtime.queue.view(checked_job_id(job_id), account_id=account.id)
            hub.claim_slot(stream)  # the deployment's caps (PostgreSQL)
            return present_job(job, request, runtime)

        first = await run_in_threadpool(first_event)
    except BaseException:
        hub.close(stream)
        raise
    hub.follow(stream, job_id, snapshot_state(first["status"], first["progress"], first["queue_position"]))
    return EventStreamResponse(_events(request, runtime, stream, first), on_close=lambda: hub.close(stream))


def stream_hub(app: FastAPI, runtime: Runtime) -> StreamHub:
    """The app's :class:`StreamHub`, made with its first stream (route handlers run on one loop)."""
    hub: StreamHub | None = getattr(app.state, "event_streams", None)
    if hub is None:
        slots = StreamSlots(runtime.db) if shared_limits_apply(runtime.db) else None
        hub = app.state.event_streams = StreamHub(runtime.db, max_per_key=runtime.settings.max_streams_per_key,
                                                  slots=slots)
    return hub


async def _events(request: Request, runtime: Runtime, stream: OpenStream, first: dict) -> AsyncIterator[bytes]:
    yield _event(first)
    if Status(first["status"]) in TERMINAL:
        return
    while True:
        try:
            async with asyncio.timeout(KEEPALIVE_SECONDS):
                await stream.wake.wait()
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        stream.wake.clear()
        if stream.ended:
            return
        snapshot, stream.latest = stream.latest, None
        if snapshot is None:
            continue
        # Position, usage and outputs came with the poller's read: presenting touches no database.
        yield _event(present_job(snapshot, request, runtime))
        if snapshot.job.is_terminal:
            return


def _event(body: dict) -> bytes:
    return f"event: job\ndata: {json.dumps(body)}\n\n".encode()
