"""The two apps bench/api_rps.py compares, as uvicorn factories."""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


def happyhorse_app():  # type: ignore[no-untyped-def]
    """The real API (no worker) over the data dir prepared by api_rps.py."""
    from happyhorse.app import create_app
    from happyhorse.runtime import Runtime
    from happyhorse.settings import Settings

    # One key makes thousands of requests a second here: a limit high enough never to
    # refuse, so the limiter's cost is measured without its 429s (BENCH_RATE=0: limiter off).
    settings = Settings(data_dir=Path(os.environ["BENCH_DATA_DIR"]), signing_secret="bench",
                        rate_limit_per_second=float(os.environ.get("BENCH_RATE", 1e9)), rate_limit_burst=10**9)
    return create_app(Runtime.open(settings))


def bare_app():  # type: ignore[no-untyped-def]
    """A bare Starlette endpoint answering the same JSON document from memory."""
    body = json.loads(Path(os.environ["BENCH_DATA_DIR"], "job.json").read_text())

    async def job(request):  # type: ignore[no-untyped-def]
        return JSONResponse(body)

    return Starlette(routes=[Route("/v1/jobs/{job_id}", job)])


def fastapi_app():  # type: ignore[no-untyped-def]
    """Calibration only: the same in-memory document behind a bare FastAPI route."""
    from fastapi import FastAPI

    body = json.loads(Path(os.environ["BENCH_DATA_DIR"], "job.json").read_text())
    app = FastAPI()

    @app.get("/v1/jobs/{job_id}")
    async def job(job_id: str):  # type: ignore[no-untyped-def]
        return JSONResponse(body)

    return app
