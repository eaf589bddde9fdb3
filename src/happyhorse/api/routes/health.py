"""``GET /healthz``: is this process up and can it reach its database?"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from happyhorse import __version__
from happyhorse.api.deps import RuntimeDep
from happyhorse.api.schemas import HealthObject

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Liveness and database check",
    response_model=HealthObject,
    responses={503: {"model": HealthObject, "description": "the database is unreachable (`degraded`)"}},
)
async def healthz(runtime: RuntimeDep) -> JSONResponse:
    def ping() -> bool:
        try:
            with runtime.db.connect().execution_options(readonly=True) as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    ok = await run_in_threadpool(ping)
    body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable", "version": __version__}
    return JSONResponse(body, status_code=200 if ok else 503)
