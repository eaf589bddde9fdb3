"""Wire shapes for the OpenAPI document (SPEC §3, §5, §6).

Handlers build plain dicts (fast, and exactly the documented shape); these
models describe them for ``/openapi.json`` and ``/docs``, and tests check
responses against them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from happyhorse.ids import id_pattern
from happyhorse.rules import RULES

# Whitespace as Python's str.strip() (the parser) sees it: Unicode White_Space (regex \s in
# JSON Schema validators) plus the separators U+001C..U+001F.
_WS = r"[\s\x1c-\x1f]"

ImageReference = Annotated[
    str,
    WithJsonSchema({
        "type": "string",
        "description": f"an http(s) URL (at most {RULES.max_image_reference_chars} characters), a data: URI, "
                       "or an upload id",
        # What the parser accepts (surrounding whitespace is trimmed); the bytes are checked later.
        "anyOf": [
            {"pattern": rf"^{_WS}*[hH][tT][tT][pP][sS]?://", "maxLength": RULES.max_image_reference_chars},
            {"pattern": rf"^{_WS}*data:"},
            {"pattern": rf"^{_WS}*{id_pattern('upload')}{_WS}*$"},
        ],
    }),
]


class GenerationRequestBody(BaseModel):
    """The body of ``POST /v1/videos/generations``. Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")

    # The Literal enums below are copies of RULES kept literal for readers and type
    # checkers; tests/test_rules.py holds each to RULES.
    model: str = Field(
        "happyhorse-1-1",
        # The served model's names, compared without case or surrounding whitespace.
        pattern=rf"^{_WS}*[hH][aA][pP][pP][yY][hH][oO][rR][sS][eE]-1[-.]1{_WS}*$",
        description="happyhorse-1-1 (aliases HappyHorse-1.1, happyhorse-1.1; any case)",
    )
    prompt: str = Field(
        ..., min_length=1, max_length=RULES.max_prompt_chars, pattern=r"[^\s\x1c-\x1f]",
        description=f"What to generate (not only whitespace); may name character1…character{RULES.max_images}",
    )
    mode: Literal["auto", "t2v", "i2v", "r2v"] = Field("auto", description="auto picks t2v/i2v/r2v from the images")
    image: ImageReference | Annotated[list[ImageReference], Field(max_length=RULES.max_images)] | None = Field(
        None, description=f"URL, data:image/...;base64 URI or upload_id; a list of up to {RULES.max_images} for r2v"
    )
    aspect_ratio: Literal["16:9", "9:16", "1:1", "4:3", "3:4"] = Field(RULES.default_aspect_ratio, description="t2v and r2v; i2v follows the image")
    resolution: Literal["720p", "1080p", "720P", "1080P"] = RULES.default_resolution  # type: ignore[assignment]
    duration: int = Field(RULES.default_duration, ge=RULES.min_duration, le=RULES.max_duration, description="whole seconds")
    seed: int | None = Field(None, ge=0, le=RULES.max_seed, description="random when omitted; always returned")
    watermark: bool = Field(False, description='adds "Happy Horse" bottom-right')


def _inline(model: type[BaseModel]) -> dict:
    schema = model.model_json_schema()
    schema.pop("$defs", None)
    return schema


_JSON_SEED = _inline(GenerationRequestBody)["properties"]["seed"]

IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp")
"""The image formats SPEC §3 accepts."""

GENERATION_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _inline(GenerationRequestBody)},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    **{k: v for k, v in _inline(GenerationRequestBody)["properties"].items() if k != "image"},
                    # A form has no null: leave seed out for a random one.
                    "seed": {**_JSON_SEED["anyOf"][0], "description": _JSON_SEED["description"], "title": "Seed"},
                    "image": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "maxItems": RULES.max_images,
                        "description": "image files (JPEG, PNG, WEBP or BMP), after any image references",
                    },
                },
                "required": ["prompt"],
                "additionalProperties": False,
            },
            # No `encoding` naming the image types here (as /v1/uploads has): with one,
            # Schemathesis 4 skips its boundary cases of the other form fields.
        },
    },
}

UPLOAD_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
                "additionalProperties": False,
            },
            "encoding": {"file": {"contentType": ", ".join(IMAGE_MEDIA_TYPES)}},
        },
        # The raw bytes, with the image's own content type.
        **{media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in IMAGE_MEDIA_TYPES},
    },
}


class JobRequest(BaseModel):
    mode: Literal["t2v", "i2v", "r2v"]
    prompt: str
    aspect_ratio: str | None = Field(description="for i2v, the ratio nearest the source image (null until it is read)")
    resolution: Literal["720p", "1080p"]
    duration: int
    seed: int
    watermark: bool
    images: int


class VideoOutput(BaseModel):
    type: Literal["video"]
    url: str = Field(description="signed URL of the MP4; expires at url_expires_at")
    url_expires_at: str
    content_type: str
    width: int
    height: int
    fps: int
    duration: float
    has_audio: bool
    bytes: int
    poster_url: str = Field(description="signed URL of a JPEG poster frame")


class JobResult(BaseModel):
    outputs: list[VideoOutput]
    seed: int


class Usage(BaseModel):
    billed_seconds: int
    unit_price_usd: str
    cost_usd: str


class JobError(BaseModel):
    code: str
    message: str


class JobObject(BaseModel):
    job_id: str
    object: Literal["video.generation.job"]
    model: str
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    progress: int = Field(ge=0, le=100, description="0-100, never goes down")
    queue_position: int | None = Field(description="1-based place in the queue while queued")
    eta_seconds: int | None = Field(
        default=None, ge=0,
        description="queued or running: expected seconds until it completes, from measured engine speed and "
        "the jobs ahead; null once ended, before any job has completed, and once a running job is overdue")
    created_at: str
    started_at: str | None
    completed_at: str | None
    request: JobRequest
    engine: str | None = Field(description="the engine that ran (or runs) the job")
    result: JobResult | None
    usage: Usage | None
    error: JobError | None


class QuotedRequest(BaseModel):
    model: str
    mode: Literal["t2v", "i2v", "r2v"]
    prompt: str
    aspect_ratio: str | None = Field(description="null for i2v from an image URL: the URL is not fetched by a quote")
    resolution: Literal["720p", "1080p"]
    duration: int
    seed: int | None = Field(description="null: a random seed is picked at submit")
    watermark: bool
    images: int
    width: int | None
    height: int | None


class QuoteObject(BaseModel):
    object: Literal["video.generation.quote"]
    price_usd: str = Field(description="what the job would cost (and hold at submit)")
    billed_seconds: int
    unit_price_usd: str
    available_usd: str = Field(description="the account's balance less its pending holds")
    affordable: bool = Field(description="false: a submit would be a 402 `insufficient_credits`")
    eta_seconds: int | None = Field(ge=0, description="expected seconds from submit to completion, from measured "
                                    "speed and the queue now; null before any job has completed")
    request: QuotedRequest


class JobDeleted(BaseModel):
    id: str
    object: Literal["video.generation.job.deleted"]
    deleted: Literal[True]


class JobList(BaseModel):
    object: Literal["list"]
    data: list[JobObject]
    has_more: bool
    last_id: str | None = Field(description="pass as `after` to get the next page")


class UploadObject(BaseModel):
    upload_id: str
    object: Literal["upload"]
    content_type: str
    bytes: int
    width: int
    height: int
    created_at: str


class EngineInfo(BaseModel):
    name: str
    description: str
    neural: bool


class ServingEngine(BaseModel):
    name: str
    modes: list[str] = Field(description="the modes this engine serves")
    workers: int = Field(description="how many recently registered workers run it")


class WorkersInfo(BaseModel):
    """The deployment's workers seen recently (each refreshes its registration while it runs)."""

    registered: int = Field(description="how many; 0: none registered yet, so `served_modes` are the model's "
                            "modes as such and no mode is refused at submit")
    engines: list[ServingEngine]


class ModelObject(BaseModel):
    id: str
    object: Literal["model"]
    aliases: list[str]
    engine: EngineInfo
    modes: list[str] = Field(description="the model's modes (what a request may resolve to)")
    served_modes: list[str] = Field(
        description="the modes the deployment's recently registered workers serve; a submit of another mode "
        "is a 400 `mode_not_served`. With no worker registered (`workers.registered` 0): the model's modes")
    workers: WorkersInfo
    aspect_ratios: list[str]
    resolutions: list[str]
    frame_sizes: dict[str, list[int]]
    fps: int
    duration: dict[str, int]
    max_prompt_characters: int
    max_images: int
    audio: dict[str, object]
    pricing: dict[str, object]


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelObject]


class AccountObject(BaseModel):
    """``GET /v1/account``. Amounts are decimal strings in USD, e.g. ``"9.30"``."""

    object: Literal["account"]
    account_id: str
    name: str
    currency: Literal["USD"]
    balance_usd: str = Field(description="credit granted minus what completed jobs cost (sum of the ledger)")
    held_usd: str = Field(description="reserved for the account's queued and running jobs")
    available_usd: str = Field(description="balance minus held: what new jobs may spend")
    pending_holds: int = Field(description="how many jobs hold credit now")
    spent_this_month_usd: str = Field(description="charged for jobs completed since the month began (UTC)")
    month: str = Field(description="the month spent_this_month_usd covers, YYYY-MM (UTC)")


class ErrorBody(BaseModel):
    type: str
    code: str
    message: str
    param: str | None
    request_id: str | None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class HealthObject(BaseModel):
    """``GET /healthz``: 200 when the database answers, else 503 with ``degraded``."""

    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    version: str


_RETRY_AFTER = {"description": "seconds to wait before retrying", "schema": {"type": "integer", "minimum": 1},
                "required": True}

ERROR_STATUSES = {
    400: "invalid field, unknown field, image count or format wrong",
    401: "missing, malformed, unknown or revoked key",
    402: "the available balance is below the job's price (`insufficient_credits`)",
    404: "no such job, upload or model for this account",
    409: "the job is in a state that does not allow this",
    413: "body or image over its cap",
    422: "`Idempotency-Key` reused with a different request",
    429: "rate limit or queued-jobs cap reached; `Retry-After` says when to retry",
    503: "the database is unreachable for now; `Retry-After` says when to retry",
}
"""Every error status of the API (SPEC §6) and when it happens."""


def error_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict]:
    """The ``responses`` of an operation that can answer ``statuses``, each with the error envelope.

    ``descriptions`` (keyed ``e409=...``) replace the generic text of a status for this operation."""
    responses: dict[int | str, dict] = {}
    for status in statuses:
        response: dict = {"model": ErrorEnvelope, "description": descriptions.get(f"e{status}", ERROR_STATUSES[status])}
        if status in (429, 503):
            response["headers"] = {"Retry-After": _RETRY_AFTER}
        responses[status] = response
    return responses


JOB_ID_PATTERN = f"^{id_pattern('job')}$"
UPLOAD_ID_PATTERN = f"^{id_pattern('upload')}$"

JobIdPath = Annotated[str, Path(
    description="the job's id, `job_` and 26 characters (any other value is a 404)",
    json_schema_extra={"pattern": JOB_ID_PATTERN},
)]
"""``{job_id}`` as documented. Not validated by FastAPI (that would be a 400): handlers answer 404
for a malformed id themselves, before it reaches the database (PostgreSQL text cannot hold NUL)."""

UploadIdPath = Annotated[str, Path(
    description="the upload's id, `upload_` and 26 characters (any other value is a 404)",
    json_schema_extra={"pattern": UPLOAD_ID_PATTERN},
)]
