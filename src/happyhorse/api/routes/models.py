"""``GET /v1/models``: the model card — modes, limits, prices, and which engine serves it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from happyhorse.submit import request as rules
from happyhorse.api.deps import CurrentAccount, RuntimeDep
from happyhorse.api.schemas import ModelList, ModelObject, error_responses
from happyhorse.errors import NotFound
from happyhorse.media.sizes import ASPECT_RATIOS, FRAME_SIZES, RESOLUTIONS
from happyhorse.pricing import CURRENCY, PRICE_PER_SECOND
from happyhorse.runtime import Runtime

router = APIRouter(tags=["models"])


def model_card(runtime: Runtime) -> dict:
    return {
        "id": rules.MODEL_ID,
        "object": "model",
        "aliases": ["HappyHorse-1.1", "happyhorse-1.1"],
        "engine": runtime.engine_info(),
        "modes": ["t2v", "i2v", "r2v"],
        "aspect_ratios": list(ASPECT_RATIOS),
        "resolutions": list(RESOLUTIONS),
        "frame_sizes": {f"{a} {r}": list(size) for (a, r), size in FRAME_SIZES.items()},
        "fps": 24,
        "duration": {"min": rules.MIN_DURATION, "max": rules.MAX_DURATION, "step": 1, "default": 5},
        "max_prompt_characters": rules.MAX_PROMPT_CHARS,
        "max_images": rules.MAX_IMAGES,
        "audio": {"codec": "aac", "sample_rate": 48000, "channels": 2},
        "pricing": {
            "currency": CURRENCY,
            "unit": "second",
            "per_second": {res: str(price) for res, price in PRICE_PER_SECOND.items()},
        },
    }


@router.get("/v1/models", response_model=ModelList, summary="List the served models",
            responses=error_responses(401, 429, 503))
async def list_models(runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [model_card(runtime)]})


@router.get("/v1/models/{model_id}", response_model=ModelObject, summary="Retrieve a model card",
            responses=error_responses(401, 404, 429, 503))
async def retrieve_model(model_id: str, runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    if model_id.strip().lower() not in rules.MODEL_ALIASES:
        raise NotFound("model_not_found", f"model {model_id!r} is not served here; see GET /v1/models", "model_id")
    return JSONResponse(model_card(runtime))
