"""Accepting a job: images checked and stored, then one transaction writes the
job and its credit hold (and completes the request's ``Idempotency-Key``).

Every image is checked here, before the job is accepted: data URIs, multipart
parts and earlier uploads as they are, image URLs after fetching them in the
request (:mod:`happyhorse.inputs.url_inputs`), so a slow or broken URL costs
its submitter's request and never a worker's time. A URL that cannot be
fetched or breaks an image rule is a 400 ``invalid_image`` naming it; on any
refusal nothing is left behind (no job, no hold, no upload, no file).
Jobs queued before this rule may still hold URLs; the worker fetches those.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from happyhorse.billing.holds import ensure_affordable, take_hold
from happyhorse.submit.idempotency import (
    KeyClaim,
    abandon_claim,
    abandon_claim_later,
    claim_key,
    complete_claim,
    request_fingerprint,
)
from happyhorse.errors import InvalidRequest, NotFound, ServiceError
from happyhorse.submit.request import GenerationRequest, ImageReference
from happyhorse.ids import new_id
from happyhorse.inputs.datauri import parse_data_uri
from happyhorse.inputs.fetch import validate_image_url
from happyhorse.inputs.images import ImageInfo
from happyhorse.inputs.url_inputs import INVALID_IMAGE_CODE, ensure_urls_accepted, fetch_image_urls
from happyhorse.jobs import queries
from happyhorse.jobs.model import Job
from happyhorse.jobs.request import JobInput, JobRequest
from happyhorse.submit.queued_cap import ensure_queued_within_cap
from happyhorse.submit.served_modes import ensure_mode_served
from happyhorse.rules import output_geometry
from happyhorse.runtime import Runtime
from happyhorse.inputs.uploads import forget_stored_image, insert_upload, store_image, use_upload

log = logging.getLogger("happyhorse.submit.service")


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
    """Submit under an optional ``Idempotency-Key`` (see :mod:`happyhorse.submit.idempotency`).

    ``fields`` (the body as sent) and ``parts`` make the request's fingerprint.
    The same key with the same request returns the first job; a request that
    fails leaves the key free for a retry."""
    if key is None:
        return Submitted(*submit_generation(runtime, account_id, request, parts))
    claim = claim_key(runtime.db, account_id, key, request_fingerprint(fields, parts))
    if claim.replay_job_id is not None:
        try:
            job = runtime.queue.get(claim.replay_job_id, account_id)
        except NotFound:
            # The key keeps its promise (one job, charged once): it never makes a second one.
            raise NotFound("job_deleted", f"the job this Idempotency-Key made ({claim.replay_job_id}) was deleted; "
                           "send a new Idempotency-Key to submit again", None) from None
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
    the account's available balance is below the job's price, and
    :class:`~happyhorse.errors.InvalidRequest` ``mode_not_served`` when no registered
    worker serves the request's mode (see :mod:`happyhorse.submit.served_modes`)."""
    ensure_mode_served(runtime, request.mode)  # first: nothing fetched or stored for a job no worker takes
    for ref in request.images:
        if ref.kind == "url":
            validate_image_url(ref.value, param=ref.param)  # syntax only: nothing is resolved yet
    ensure_urls_accepted(runtime.settings, [ref.param for ref in request.images if ref.kind == "url"])
    if any(ref.kind != "upload" for ref in request.images):
        # Refuse before fetching, decoding and storing images that would be thrown away.
        ensure_affordable(runtime.db, account_id, request.resolution, request.duration)
    new_images = _store_new_images(runtime, account_id, request, parts)
    try:
        return _queue_job(runtime, account_id, request, new_images, claim)
    except BaseException:
        _delete_stored(runtime, new_images.values())  # a refused submit leaves no file behind
        raise


def _store_new_images(
    runtime: Runtime, account_id: str, request: GenerationRequest, parts: list[bytes]
) -> dict[int, _NewImage]:
    """Check and store every image that is not an earlier upload, by request index.
    Cheap checks first (data URI syntax), then the URL fetches, then the image
    rules on the bytes; if any image is refused, the ones stored already are deleted."""
    max_bytes = runtime.settings.max_image_bytes
    at_hand: dict[int, bytes] = {}
    for index, ref in enumerate(request.images):
        if ref.kind == "data_uri":
            at_hand[index] = parse_data_uri(ref.value, param=ref.param, max_bytes=max_bytes)
        elif ref.kind == "part":
            at_hand[index] = parts[int(ref.value)]
    urls = [(ref.param, ref.value) for ref in request.images if ref.kind == "url"]
    fetched = fetch_image_urls(runtime.settings, account_id, urls)
    new_images: dict[int, _NewImage] = {}
    try:
        for index, ref in enumerate(request.images):
            data = fetched.get(ref.param) if ref.kind == "url" else at_hand.get(index)
            if data is None:
                continue  # an earlier upload: checked when it was uploaded
            upload_id, info = _store_checked(runtime, ref, data, max_bytes)
            new_images[index] = _NewImage(upload_id, data, info)
    except BaseException:
        _delete_stored(runtime, new_images.values())
        raise
    return new_images


def _store_checked(runtime: Runtime, ref: ImageReference, data: bytes, max_bytes: int) -> tuple[str, ImageInfo]:
    try:
        return store_image(runtime.storage, data, param=ref.param, max_bytes=max_bytes)
    except ServiceError as exc:
        if ref.kind != "url":
            raise
        # One code for every way a URL's image can be refused, the code its job failed with before.
        raise InvalidRequest(INVALID_IMAGE_CODE, exc.message, ref.param) from None


def _delete_stored(runtime: Runtime, images: Iterable[_NewImage]) -> None:
    for image in images:
        forget_stored_image(runtime.storage, image.upload_id, image.info)


def _queue_job(
    runtime: Runtime, account_id: str, request: GenerationRequest, new_images: dict[int, _NewImage],
    claim: KeyClaim | None,
) -> tuple[Job, int | None]:
    job_id = new_id("job")
    with runtime.db.begin() as conn:
        inputs: list[JobInput] = []
        sizes: list[tuple[int, int]] = []
        for index, ref in enumerate(request.images):
            if index in new_images:
                image = new_images[index]
                insert_upload(conn, image.upload_id, account_id, image.data, image.info)
                inputs.append(JobInput.upload(image.upload_id))
                sizes.append((image.info.width, image.info.height))
            else:
                upload = use_upload(conn, account_id, ref.value, param=ref.param)
                inputs.append(JobInput.upload(upload.id))
                sizes.append((upload.width, upload.height))
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


def stored_request(request: GenerationRequest, inputs: list[JobInput], source_size: tuple[int, int] | None) -> JobRequest:
    """The request as kept on the job row, with the output's geometry: for i2v the
    aspect ratio follows the source image (every image is at hand at submit)."""
    geometry = output_geometry(request.mode, request.aspect_ratio, request.resolution, source_size)
    return JobRequest(
        mode=request.mode,
        prompt=request.prompt,
        aspect_ratio=geometry.aspect_ratio,
        resolution=request.resolution,
        duration=request.duration,
        seed=request.seed,
        watermark=request.watermark,
        inputs=tuple(inputs),
        width=geometry.width,
        height=geometry.height,
        remixed_from=request.remixed_from,
    )
