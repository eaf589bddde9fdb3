"""Accepting a job: images checked and stored, then one transaction writes the
job and its credit hold (and completes the request's ``Idempotency-Key``).

Image bytes that are at hand (data URIs, multipart parts, earlier uploads) are
checked here, before the job is accepted; URLs are checked for syntax now and
fetched by the worker, which fails the job with ``invalid_image`` if they are bad.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from happyhorse.billing.holds import ensure_affordable, take_hold
from happyhorse.billing.idempotency import (
    KeyClaim,
    abandon_claim,
    abandon_claim_later,
    claim_key,
    complete_claim,
    request_fingerprint,
)
from happyhorse.generation_request import GenerationRequest
from happyhorse.ids import new_id
from happyhorse.inputs.datauri import parse_data_uri
from happyhorse.inputs.fetch import validate_image_url
from happyhorse.inputs.images import ImageInfo
from happyhorse.jobs import queries
from happyhorse.jobs.model import Job
from happyhorse.limits import ensure_queued_within_cap
from happyhorse.media.sizes import frame_size, nearest_aspect_ratio
from happyhorse.runtime import Runtime
from happyhorse.uploads import get_upload, insert_upload, store_image

log = logging.getLogger("happyhorse.submission")


@dataclass(frozen=True)
class _NewImage:
    upload_id: str
    data: bytes
    info: ImageInfo


@dataclass(frozen=True)
class Submitted:
    """What a submit produced: the job, its queue position at the time, and whether it was a replay."""

    job: Job
    queue_position: int | None
    replayed: bool = False
    """True when an ``Idempotency-Key`` matched an earlier request: ``job`` is that request's job."""


def submit_idempotent(
    runtime: Runtime,
    account_id: str,
    request: GenerationRequest,
    parts: list[bytes],
    *,
    key: str | None,
    fields: dict[str, Any],
) -> Submitted:
    """Submit under an optional ``Idempotency-Key`` (see :mod:`happyhorse.billing.idempotency`).

    ``fields`` (the body as sent) and ``parts`` make the request's fingerprint.
    The same key with the same request returns the first job; a request that
    fails leaves the key free for a retry."""
    if key is None:
        return Submitted(*submit_generation(runtime, account_id, request, parts))
    claim = claim_key(runtime.db, account_id, key, request_fingerprint(fields, parts))
    if claim.replay_job_id is not None:
        job = runtime.queue.get(claim.replay_job_id, account_id)
        return Submitted(job, runtime.queue.queue_position(job), replayed=True)
    try:
        job, position = submit_generation(runtime, account_id, request, parts, claim=claim)
    except BaseException:
        try:
            abandon_claim(runtime.db, claim)
        except Exception:  # the original error matters more (the database is away, most likely)
            log.warning("could not free idempotency key after a failed submit; retrying in the background",
                        exc_info=True)
            abandon_claim_later(runtime.db, claim)
        raise
    return Submitted(job, position)


def submit_generation(
    runtime: Runtime, account_id: str, request: GenerationRequest, parts: list[bytes], *, claim: KeyClaim | None = None
) -> tuple[Job, int | None]:
    """Check the request's images and queue the job with its hold; returns the
    job and its queue position as of the insert (a worker may claim it a moment
    later). Raises :class:`~happyhorse.errors.InsufficientCredits` (402) when
    the account's available balance is below the job's price."""
    max_bytes = runtime.settings.max_image_bytes
    if any(ref.kind in ("data_uri", "part") for ref in request.images):
        # Refuse before decoding and storing images that would be thrown away.
        ensure_affordable(runtime.db, account_id, request.resolution, request.duration)
    new_images: dict[int, _NewImage] = {}
    for index, ref in enumerate(request.images):
        if ref.kind == "data_uri":
            data = parse_data_uri(ref.value, param=ref.param, max_bytes=max_bytes)
        elif ref.kind == "part":
            data = parts[int(ref.value)]
        else:
            if ref.kind == "url":
                validate_image_url(ref.value, param=ref.param)
            continue
        upload_id, info = store_image(runtime.storage, data, param=ref.param, max_bytes=max_bytes)
        new_images[index] = _NewImage(upload_id, data, info)

    job_id = new_id("job")
    with runtime.db.begin() as conn:
        inputs: list[dict] = []
        sizes: list[tuple[int, int] | None] = []
        for index, ref in enumerate(request.images):
            if index in new_images:
                image = new_images[index]
                insert_upload(conn, image.upload_id, account_id, image.data, image.info)
                inputs.append({"kind": "upload", "upload_id": image.upload_id})
                sizes.append((image.info.width, image.info.height))
            elif ref.kind == "upload":
                upload = get_upload(conn, account_id, ref.value, param=ref.param)
                inputs.append({"kind": "upload", "upload_id": upload.id})
                sizes.append((upload.width, upload.height))
            else:
                inputs.append({"kind": "url", "url": ref.value})
                sizes.append(None)
        runtime.queue.insert_job(
            conn,
            job_id=job_id,
            account_id=account_id,
            model=request.model,
            request=stored_request(request, inputs, sizes[0] if request.mode == "i2v" else None),
        )
        # In the job's transaction: no job without its hold, no hold without its job.
        take_hold(conn, account_id=account_id, job_id=job_id, resolution=request.resolution,
                  duration=request.duration)
        # After the hold, which locked the account's row: concurrent submits of one account
        # count one after the other, so none slips past the cap.
        ensure_queued_within_cap(conn, account_id, runtime.settings.max_queued_jobs_per_account)
        if claim is not None:
            complete_claim(conn, claim, job_id)
        job = queries.get_job(conn, job_id, account_id)
        position = queries.queue_positions(conn, [job]).get(job_id)
    return job, position


def stored_request(request: GenerationRequest, inputs: list[dict], source_size: tuple[int, int] | None) -> dict:
    """The request as kept on the job row. For i2v the aspect ratio follows the
    source image: known now for uploaded bytes, else set by the worker."""
    aspect_ratio: str | None = request.aspect_ratio
    if request.mode == "i2v":
        aspect_ratio = nearest_aspect_ratio(*source_size) if source_size else None
    width, height = frame_size(aspect_ratio, request.resolution) if aspect_ratio else (None, None)
    return {
        "mode": request.mode,
        "prompt": request.prompt,
        "aspect_ratio": aspect_ratio,
        "resolution": request.resolution,
        "duration": request.duration,
        "seed": request.seed,
        "watermark": request.watermark,
        "width": width,
        "height": height,
        "inputs": inputs,
    }
