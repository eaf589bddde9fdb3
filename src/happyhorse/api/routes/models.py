"""``GET /v1/models``: the model card — modes, limits, prices, which engine serves it, and which
modes the deployment's workers serve (from their registrations, :mod:`happyhorse.jobs.registry`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from happyhorse.api.deps import CurrentAccount, RuntimeDep
from happyhorse.api.schemas import ModelList, ModelObject, error_responses
from happyhorse.errors import NotFound
from happyhorse.rules import RULES
from happyhorse.runtime import Runtime

router = APIRouter(tags=["models"])


def model_card(runtime: Runtime) -> dict:
    """The model's rules (:data:`~happyhorse.rules.RULES`), the engine this deployment runs, and
    what its recently registered workers serve: ``served_modes`` (the rules' modes while
    ``workers.registered`` is 0: nothing is known, and nothing refused) and each engine's modes."""
    serving = runtime.workers.serving(runtime.settings.worker_seen_seconds)
    return {
        **RULES.card(),
        "engine": runtime.engine_info(),
        "served_modes": list(serving.modes),
        "workers": {"registered": len(serving.workers), "engines": serving.engines()},
    }


@router.get("/v1/models", response_model=ModelList, summary="List the served models",
            responses=error_responses(401, 429, 503))
async def list_models(runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [await run_in_threadpool(model_card, runtime)]})


@router.get("/v1/models/{model_id}", response_model=ModelObject, summary="Retrieve a model card",
            responses=error_responses(401, 404, 429, 503))
async def retrieve_model(model_id: str, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    if model_id.strip().lower() not in RULES.names:
        raise NotFound("model_not_found", f"model {model_id!r} is not served here; see GET /v1/models", "model_id")
    return JSONResponse(await run_in_threadpool(model_card, runtime))
