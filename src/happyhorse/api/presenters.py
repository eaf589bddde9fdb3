"""Turning stored rows into the wire objects of SPEC §5: one :func:`present_job` for every answer that shows a job."""

from __future__ import annotations

import functools
import time

from typing import TYPE_CHECKING

from starlette.requests import Request

from happyhorse.api.deps import base_url
from happyhorse.billing.usage import Usage
from happyhorse.jobs.status import Status
from happyhorse.jobs.views import JobView, VideoOutput
from happyhorse.storage.signing import UrlSigner
from happyhorse.text import showable_text

if TYPE_CHECKING:
    from happyhorse.runtime import Runtime


def iso_time(epoch: float | None) -> str | None:
    """ISO 8601 in UTC to the second, e.g. ``2026-11-25T15:00:00Z``."""
    if epoch is None:
        return None
    return _iso_second(int(epoch))


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    # A polled job shows the same few instants on every poll: format each once.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def present_job(view: JobView, request: Request, runtime: Runtime) -> dict:
    """The job as every answer shows it (SPEC §5); output URLs are signed afresh on every call.

    Total: whatever a stored row holds, the answer can be encoded. (A prompt with a
    lone surrogate, stored before the body readers refused them, made the answer's
    UTF-8 encoding fail: a 500 after the job was committed, and on every later read.
    The request is JSON, which SQLite stores with the surrogate escaped; a text
    column such as ``error_message`` cannot hold one at all.)

    ``view.usage`` comes from the job's captured hold. A completed job without one
    finished before billing existed (migration 0002): it shows the price table's figure."""
    job, request_ = view.job, view.job.request
    status = job.status
    result = None
    if status is Status.COMPLETED:
        signing = (runtime.signer, base_url(request), runtime.settings.url_ttl_seconds)
        result = {
            "outputs": [_output_object(output, *signing) for output in view.outputs],
            "seed": (job.result or {}).get("seed", request_.seed),
        }
    return {
        "job_id": job.id,
        "object": "video.generation.job",
        "model": job.model,
        "status": status.value,
        "progress": job.progress,
        "queue_position": view.queue_position if status is Status.QUEUED else None,
        # Only unfinished jobs read the (cached) speed: an ended job's answer touches no database.
        "eta_seconds": None if job.is_terminal else runtime.speed.speed().eta(job, view.queue_position, time.time()),
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "completed_at": iso_time(job.completed_at),
        "request": {
            "mode": request_.mode,
            "prompt": showable_text(request_.prompt),
            "aspect_ratio": (job.result or {}).get("aspect_ratio", request_.aspect_ratio),
            "resolution": request_.resolution,
            "duration": request_.duration,
            "seed": request_.seed,
            "watermark": request_.watermark,
            "images": len(request_.inputs),
        },
        "engine": job.engine,
        "result": result,
        "usage": (view.usage.to_dict() if view.usage else dict(_listed_usage(request_.resolution, request_.duration)))
        if result else None,
        "error": {"code": job.error_code, "message": job.error_message} if status is Status.FAILED else None,
    }


@functools.lru_cache(maxsize=64)
def _listed_usage(resolution: str, duration: int) -> tuple[tuple[str, object], ...]:
    # Only for jobs completed before holds existed; there are only 26 answers.
    return tuple(Usage.quote(resolution, duration).to_dict().items())


def _output_object(output: VideoOutput, signer: UrlSigner, root: str, url_ttl: int) -> dict:
    now = int(time.time())
    video_path, expires_at = signer.signed_path(output.storage_key, url_ttl, now=now)
    poster_path, _ = signer.signed_path(output.poster_key, url_ttl, now=now)
    return {
        "type": "video",
        "url": root + video_path,
        "url_expires_at": iso_time(expires_at),
        "content_type": output.content_type,
        "width": output.width,
        "height": output.height,
        "fps": output.fps,
        "duration": output.duration,
        "has_audio": output.has_audio,
        "bytes": output.bytes,
        "poster_url": root + poster_path,
    }


_VIDEO_STATUS = {Status.RUNNING: "in_progress"}
"""Our statuses as OpenAI's ``Video`` names them (the rest are spelled alike; ``cancelled`` is ours)."""


def present_video(view: JobView, runtime: Runtime) -> dict:
    """The job as OpenAI's ``Video`` object (SPEC §9), plus ours: ``queue_position``, ``eta_seconds``,
    ``seed``, ``usage``. Its ``id`` is the job's id."""
    job, request_ = view.job, view.job.request
    status = job.status
    if request_.width is not None and request_.height is not None:
        size = f"{request_.width}x{request_.height}"
    elif view.outputs:
        size = f"{view.outputs[0].width}x{view.outputs[0].height}"
    else:  # an i2v job queued before its image was read: its size is not known yet
        width, height = _frame_size(request_.aspect_ratio, request_.resolution)
        size = f"{width}x{height}"
    completed = status is Status.COMPLETED
    return {
        "id": job.id,
        "object": "video",
        "model": job.model,
        "status": _VIDEO_STATUS.get(status, status.value),
        "progress": job.progress,
        "created_at": int(job.created_at),
        "completed_at": int(job.completed_at) if job.completed_at is not None else None,
        "expires_at": None,  # outputs are kept until the job is deleted
        "seconds": str(request_.duration),
        "size": size,
        "prompt": showable_text(request_.prompt),
        "remixed_from_video_id": request_.remixed_from,
        "error": {"code": job.error_code, "message": job.error_message} if status is Status.FAILED else None,
        "queue_position": view.queue_position if status is Status.QUEUED else None,
        "eta_seconds": None if job.is_terminal else runtime.speed.speed().eta(job, view.queue_position, time.time()),
        "seed": (job.result or {}).get("seed", request_.seed),
        "usage": (view.usage.to_dict() if view.usage else dict(_listed_usage(request_.resolution, request_.duration)))
        if completed else None,
    }


def _frame_size(aspect_ratio: str | None, resolution: str) -> tuple[int, int]:
    from happyhorse.rules import RULES

    return RULES.frame_sizes[(aspect_ratio or RULES.default_aspect_ratio, resolution)]
