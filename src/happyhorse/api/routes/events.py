"""``GET /v1/jobs/{job_id}/events``: Server-Sent Events until the job ends.

Each change of status, progress or queue position is sent as an ``event: job``
whose ``data`` is the job object; the stream closes after the terminal one.
A comment line every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from happyhorse.api.deps import CurrentAccount, RuntimeDep, read_db
from happyhorse.api.routes.jobs import _present, checked_job_id
from happyhorse.api.schemas import JobIdPath, error_responses
from happyhorse.jobs.status import TERMINAL, Status

router = APIRouter(tags=["jobs"])

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


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
    # Resolve the job first, so a foreign or missing job is a plain 404, not an empty stream.
    first = await read_db(runtime, lambda: runtime.queue.get(checked_job_id(job_id), account_id=account.id))

    async def stream() -> AsyncIterator[bytes]:
        job, last_sent, last_beat = first, None, time.monotonic()
        while True:
            body = await read_db(runtime, lambda: _present(request, runtime, job))
            state = (body["status"], body["progress"], body["queue_position"])
            if state != last_sent:
                last_sent, last_beat = state, time.monotonic()
                yield f"event: job\ndata: {json.dumps(body)}\n\n".encode()
            elif time.monotonic() - last_beat > KEEPALIVE_SECONDS:
                last_beat = time.monotonic()
                yield b": keep-alive\n\n"
            if Status(job.status) in TERMINAL or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
            job = await read_db(runtime, lambda: runtime.queue.get(job_id, account_id=account.id))

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
