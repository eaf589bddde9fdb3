"""Wire shapes of the OpenAI-compatible ``/v1/videos`` routes (SPEC §9), for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from happyhorse.api.schemas import GenerationRequestBody, JobError, Usage, _inline
from happyhorse.ids import id_pattern
from happyhorse.rules import RULES
from happyhorse.submit.openai_request import DEFAULT_SIZE, SIZES

_WS = r"[\s\x1c-\x1f]"
_NATIVE = _inline(GenerationRequestBody)["properties"]
_SECONDS = [str(n) for n in range(RULES.min_duration, RULES.max_duration + 1)]
_IMAGE_REFERENCE = _NATIVE["image"]["anyOf"][0]
_COMMON: dict = {
    "prompt": _NATIVE["prompt"],
    "model": {
        "type": "string",
        "description": "happyhorse-1-1 (or an alias), or any sora-* name, which means happyhorse-1-1",
        "anyOf": [{"pattern": _NATIVE["model"]["pattern"]}, {"pattern": rf"^{_WS}*[sS][oO][rR][aA]-"}],
    },
    "seconds": {"type": "string", "enum": _SECONDS, "description": "clip length in whole seconds, default \"5\""},
    "size": {"type": "string", "enum": list(SIZES), "description": f"a frame size of SPEC §4 (sets aspect_ratio "
             f"and resolution; i2v follows the image's aspect), default {DEFAULT_SIZE}"},
    "mode": _NATIVE["mode"],
    "aspect_ratio": _NATIVE["aspect_ratio"],
    "resolution": _NATIVE["resolution"],
    "watermark": _NATIVE["watermark"],
}
_FORM_SEED = {**_NATIVE["seed"]["anyOf"][0], "description": _NATIVE["seed"]["description"]}

VIDEO_CREATE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    **_COMMON,
                    "seed": _FORM_SEED,
                    "input_reference": {"type": "string", "format": "binary",
                                        "description": "the source image of an i2v job (JPEG, PNG, WEBP or BMP)"},
                    "input_reference[image_url]": {**_IMAGE_REFERENCE,
                                                   "description": "the source image as a URL, data URI or upload id"},
                    "image": {"type": "array", "items": _IMAGE_REFERENCE, "maxItems": RULES.max_images},
                },
                "required": ["prompt"],
                "additionalProperties": False,
            },
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    **_COMMON,
                    "seconds": {"anyOf": [_COMMON["seconds"], {"type": "integer", "minimum": RULES.min_duration,
                                                               "maximum": RULES.max_duration}]},
                    "seed": _NATIVE["seed"],
                    "image": _NATIVE["image"],
                    "input_reference": {
                        "type": "object", "properties": {"image_url": _IMAGE_REFERENCE},
                        "required": ["image_url"], "additionalProperties": False,
                    },
                },
                "required": ["prompt"],
                "additionalProperties": False,
            },
        },
    },
}

REMIX_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "properties": {"prompt": _NATIVE["prompt"]}, "required": ["prompt"],
        "additionalProperties": False,
    }}},
}

VIDEO_ID_PATTERN = f"^{id_pattern('job')}$"


class VideoObject(BaseModel):
    """A job as OpenAI's ``Video``; ``id`` is the job's id (``GET /v1/jobs/{id}`` shows the same job)."""

    id: str
    object: Literal["video"]
    model: str
    status: Literal["queued", "in_progress", "completed", "failed", "cancelled"]
    progress: int = Field(ge=0, le=100)
    created_at: int = Field(description="Unix seconds")
    completed_at: int | None = Field(description="Unix seconds, once ended")
    expires_at: int | None = Field(description="always null: outputs are kept until the video is deleted")
    seconds: str
    size: str = Field(description="WxH")
    prompt: str
    remixed_from_video_id: str | None
    error: JobError | None
    queue_position: int | None
    eta_seconds: int | None = Field(ge=0)
    seed: int
    usage: Usage | None


class VideoList(BaseModel):
    object: Literal["list"]
    data: list[VideoObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"]
    deleted: Literal[True]
