"""Typed objects the API returns (SPEC §5): jobs, their results, models, uploads, the account.

Every model accepts fields it does not know (a newer server may add some) and
keeps them, so ``model_dump()`` round-trips what the server sent. Timestamps
are parsed into timezone-aware :class:`~datetime.datetime` objects.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Account",
    "EngineInfo",
    "Job",
    "JobDeleted",
    "JobError",
    "JobList",
    "JobRequest",
    "JobResult",
    "JobStatus",
    "Model",
    "Quote",
    "Upload",
    "Usage",
    "VideoOutput",
]

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
"""``queued`` and ``running`` go on; ``completed``, ``failed`` and ``cancelled`` are final."""

TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class _APIObject(BaseModel):
    # extra="allow": a newer server's additional fields neither break parsing nor get lost.
    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True, protected_namespaces=())


class JobRequest(_APIObject):
    """The request as the server resolved it (``auto`` mode and a random seed made concrete)."""

    mode: Literal["t2v", "i2v", "r2v"]
    """The mode that runs: text-, image- or reference-to-video."""
    prompt: str
    """The prompt, trimmed."""
    aspect_ratio: str | None
    """``16:9``, ``9:16``, ``1:1``, ``4:3`` or ``3:4``; for i2v the ratio nearest the image (``None`` until it is read)."""
    resolution: Literal["720p", "1080p"]
    """Output resolution class."""
    duration: int
    """Length of the video in whole seconds (3-15)."""
    seed: int
    """The seed used; send it back to reproduce the video."""
    watermark: bool
    """Whether "Happy Horse" is drawn in the bottom-right corner."""
    images: int
    """How many input images the job has."""


class VideoOutput(_APIObject):
    """One generated video and its poster frame."""

    type: Literal["video"]
    """Always ``video``."""
    url: str
    """Signed URL of the MP4; valid until ``url_expires_at`` (``jobs.download`` signs a fresh one)."""
    url_expires_at: datetime
    """When ``url`` and ``poster_url`` stop working."""
    content_type: str
    """``video/mp4``."""
    width: int
    """Frame width in pixels."""
    height: int
    """Frame height in pixels."""
    fps: int
    """Frames per second (24)."""
    duration: float
    """Length in seconds."""
    has_audio: bool
    """Whether the MP4 has an audio track (always true for this model)."""
    bytes: int
    """Size of the MP4 file."""
    poster_url: str
    """Signed URL of a JPEG poster frame."""


class JobResult(_APIObject):
    """What a completed job made."""

    outputs: list[VideoOutput]
    """The videos (one per job today)."""
    seed: int
    """The seed used."""


class Usage(_APIObject):
    """What a completed job costs. Amounts are exact decimals in USD (decimal strings on the wire, never floats)."""

    billed_seconds: int
    """Seconds of output billed."""
    unit_price_usd: Decimal
    """Price per second, e.g. ``Decimal("0.14")``."""
    cost_usd: Decimal
    """``billed_seconds × unit_price_usd``, e.g. ``Decimal("0.70")``."""


class JobError(_APIObject):
    """Why a job failed."""

    code: str
    """Stable code, e.g. ``invalid_image`` or ``worker_lost``."""
    message: str
    """What went wrong, and what to change if the request was at fault."""


class Job(_APIObject):
    """A video-generation job. Get a fresh copy with ``client.jobs.retrieve(job)``."""

    job_id: str
    """``job_...``; ids sort by creation time."""
    object: Literal["video.generation.job"] = "video.generation.job"
    """Always ``video.generation.job``."""
    model: str
    """The model that serves the job, ``happyhorse-1-1``."""
    status: JobStatus
    """Where the job is; ``completed``, ``failed`` and ``cancelled`` are final."""
    progress: int
    """0-100; never goes down."""
    queue_position: int | None = None
    """1-based place in the queue while ``queued``, else ``None``."""
    eta_seconds: int | None = None
    """Queued or running: expected seconds until it completes, from the server's measured speed;
    ``None`` once ended, before the server has any history, and once a running job is overdue."""
    created_at: datetime
    """When the job was submitted."""
    started_at: datetime | None = None
    """When a worker first started it."""
    completed_at: datetime | None = None
    """When it ended (whatever the outcome)."""
    request: JobRequest
    """The request as resolved by the server."""
    engine: str | None = None
    """The engine that runs (or ran) the job, e.g. ``preview`` (procedural, not a neural network)."""
    result: JobResult | None = None
    """Set once ``completed``."""
    usage: Usage | None = None
    """Set once ``completed``."""
    error: JobError | None = None
    """Set once ``failed``."""

    @property
    def is_terminal(self) -> bool:
        """True once the job has ended: ``completed``, ``failed`` or ``cancelled``."""
        return self.status in TERMINAL_STATUSES

    @property
    def video(self) -> VideoOutput | None:
        """The first output of a completed job, else ``None``."""
        return self.result.outputs[0] if self.result and self.result.outputs else None


class EngineInfo(_APIObject):
    """The engine that serves a model on this deployment."""

    name: str
    """e.g. ``preview``."""
    description: str
    """What the engine is, in words."""
    neural: bool
    """False for the procedural ``preview`` engine: its videos do not come from a neural network."""


class ServingEngine(_APIObject):
    """An engine the deployment's workers run, and the modes it serves."""

    name: str
    """e.g. ``preview``, ``magihuman``."""
    modes: list[str]
    """The modes it serves (its workers claim no other)."""
    workers: int
    """How many recently registered workers run it."""


class WorkersInfo(_APIObject):
    """The deployment's workers seen recently."""

    registered: int
    """How many; 0: none registered yet, so ``served_modes`` are the model's modes as such."""
    engines: list[ServingEngine]
    """Each engine they run, with its modes."""


class Model(_APIObject):
    """The model card: modes, limits, prices, the engine behind it, and the modes served now."""

    id: str
    """``happyhorse-1-1``."""
    object: Literal["model"] = "model"
    """Always ``model``."""
    aliases: list[str]
    """Other names accepted in ``model``."""
    engine: EngineInfo
    """The engine that generates this model's videos here."""
    modes: list[str]
    """The model's modes: ``t2v``, ``i2v``, ``r2v``."""
    served_modes: list[str]
    """The modes the deployment's workers serve; a submit of another is refused (``mode_not_served``).
    With no worker registered (``workers.registered`` 0): the model's modes."""
    workers: WorkersInfo
    """The workers seen recently and their engines."""
    aspect_ratios: list[str]
    """Accepted ``aspect_ratio`` values."""
    resolutions: list[str]
    """Accepted ``resolution`` values."""
    frame_sizes: dict[str, list[int]]
    """``"16:9 720p" → [1280, 720]`` and so on."""
    fps: int
    """Output frame rate."""
    duration: dict[str, int]
    """``min``, ``max``, ``step`` and ``default`` seconds."""
    max_prompt_characters: int
    """Longest accepted prompt."""
    max_images: int
    """Most reference images (r2v)."""
    audio: dict[str, Any]
    """The audio track: codec, sample rate, channels."""
    pricing: dict[str, Any]
    """``currency``, ``unit`` and ``per_second`` prices by resolution (decimal strings)."""


class Upload(_APIObject):
    """An image uploaded once; pass it (or its ``upload_id``) as ``image``."""

    upload_id: str
    """``upload_...``: usable in ``image`` by this account."""
    object: Literal["upload"] = "upload"
    """Always ``upload``."""
    content_type: str
    """The image type the server detected, e.g. ``image/png``."""
    bytes: int
    """Size of the image file."""
    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""
    created_at: datetime
    """When it was uploaded."""


class JobDeleted(_APIObject):
    """The answer to ``jobs.delete``: the job, its files and its inputs are gone (its charges stay)."""

    id: str
    object: Literal["video.generation.job.deleted"] = "video.generation.job.deleted"
    deleted: Literal[True] = True


class QuotedRequest(_APIObject):
    """The request as a submit would resolve it; ``None`` where it cannot be known yet."""

    model: str
    mode: Literal["t2v", "i2v", "r2v"]
    prompt: str
    aspect_ratio: str | None
    """``None`` for i2v from an image URL: a quote does not fetch it."""
    resolution: Literal["720p", "1080p"]
    duration: int
    seed: int | None
    """``None``: a random seed is picked at submit."""
    watermark: bool
    images: int
    width: int | None
    height: int | None


class Quote(_APIObject):
    """What a submit would cost and when it would be done (``videos.quote``); nothing was submitted."""

    object: Literal["video.generation.quote"] = "video.generation.quote"
    price_usd: Decimal
    billed_seconds: int
    unit_price_usd: Decimal
    available_usd: Decimal
    """The account's balance less its pending holds."""
    affordable: bool
    """``False``: submitting would raise InsufficientCreditsError (402)."""
    eta_seconds: int | None
    """Expected seconds from submit to completion; ``None`` before the server has any history."""
    request: QuotedRequest


class JobList(_APIObject):
    """One page of ``GET /v1/jobs``, newest first."""

    object: Literal["list"] = "list"
    """Always ``list``."""
    data: list[Job]
    """The jobs on this page."""
    has_more: bool
    """Whether another page follows."""
    last_id: str | None = None
    """The last job id on this page: pass it as ``after`` for the next page."""


class Account(_APIObject):
    """The caller's account (``GET /v1/account``). Amounts are exact decimals in USD."""

    object: Literal["account"] = "account"
    """Always ``account``."""
    account_id: str
    """``acc_...``."""
    name: str
    """The account's name."""
    currency: Literal["USD"] = "USD"
    """The currency of every amount."""
    balance_usd: Decimal
    """Credit granted minus what completed jobs cost."""
    held_usd: Decimal
    """Reserved for the account's queued and running jobs."""
    available_usd: Decimal
    """Balance minus held: what new jobs may spend."""
    pending_holds: int
    """How many jobs hold credit now."""
    spent_this_month_usd: Decimal
    """Charged for jobs completed since the month began (UTC)."""
    month: str
    """The month ``spent_this_month_usd`` covers, ``YYYY-MM`` (UTC)."""
