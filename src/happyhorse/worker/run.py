"""One job's run, as numbered steps: inputs → spec → generate → encode → store.

:func:`run_job` returns an :class:`~happyhorse.worker.outcome.Outcome` and
writes nothing to the queue itself (:func:`~happyhorse.worker.outcome.finish_job`
does). It raises only for faults that are the machine's, not the job's (a
storage outage other than a full disk): the lease then lapses and the reaper
gives the job to another worker.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import numpy as np

from happyhorse.engines import Engine, GenerationSpec, JobCancelled
from happyhorse.errors import ServiceError
from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.request import JobRequest
from happyhorse.media.encode import EncodedVideo, encode_clip
from happyhorse.rules import RULES
from happyhorse.runtime import Runtime
from happyhorse.storage.base import Storage
from happyhorse.worker.inputs import InputError, load_inputs
from happyhorse.worker.lease import JobContext
from happyhorse.worker.outcome import CANCELLED, LOST, RELEASED, STORAGE_FULL_CODE, Outcome, StoredVideo

log = logging.getLogger("happyhorse.worker")

# "No space" and "over quota" both mean the output disk takes no more bytes.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def run_job(runtime: Runtime, engine: Engine, claimed: ClaimedJob, ctx: JobContext, workdir: Path) -> Outcome:
    """Run one claimed job in ``workdir`` (the caller makes and removes it)."""
    job = claimed.job
    try:
        # 1. Inputs: the job's images, read from storage and checked again.
        images = load_inputs(runtime, job)
        # 2. The engine's spec: frame size (i2v follows its image), frames, seed.
        spec = spec_for(job.request, images, engine.name)
        # 3-4. Generate and encode: frames stream from the engine into the encoder.
        clip = engine.generate(spec, ctx)
        encoded = encode_clip(clip, workdir / "video.mp4", workdir / "poster.jpg", watermark=job.request.watermark)
    except JobCancelled:
        return stopped(ctx)
    except InputError as exc:
        return Outcome.failed("invalid_image", exc.message)
    except ServiceError as exc:
        return Outcome.failed(exc.code, exc.message)
    except Exception as exc:  # an engine or encoder fault: the job fails, the worker lives on
        log.exception("job %s failed in the engine", job.id)
        return Outcome.failed("generation_failed", f"generation failed: {type(exc).__name__}: {exc}"[:500])
    if ctx.cancelled():
        return stopped(ctx)
    # 5. Store: the video and its poster, under a key of this attempt.
    try:
        return Outcome.completed(store_outputs(runtime.storage, claimed, spec, encoded, workdir))
    except OSError as exc:
        if exc.errno not in _DISK_FULL:
            raise  # other storage faults: the lease lapses and the job is retried elsewhere
        # A full output disk will not empty itself before a retry: fail the job now
        # with a code the client can act on (the queue gives the hold back).
        log.error("job %s: output storage is full: %s", job.id, exc)
        return Outcome.failed(
            STORAGE_FULL_CODE, "the server ran out of space for outputs while storing the video; try again later"
        )


def stopped(ctx: JobContext) -> Outcome:
    """Why the engine stopped early: the lease was lost, its owner cancelled, or the worker is shutting down."""
    if ctx.lease_lost.is_set():
        return LOST
    if ctx.cancel_requested.is_set():
        return CANCELLED
    return RELEASED


def spec_for(request: JobRequest, images: list[np.ndarray], engine_name: str) -> GenerationSpec:
    """The engine's view of a job: its size from the model's rules (i2v: its source image's aspect)."""
    source_size = (images[0].shape[1], images[0].shape[0]) if request.mode == "i2v" else None
    geometry = request.geometry(source_size)
    return GenerationSpec(
        mode=request.mode,  # type: ignore[arg-type]
        prompt=request.prompt,
        width=geometry.width,
        height=geometry.height,
        num_frames=RULES.num_frames(request.duration),
        seed=request.seed,
        images=tuple(images),
        options={"aspect_ratio": geometry.aspect_ratio, "engine": engine_name},
    )


def store_outputs(
    storage: Storage, claimed: ClaimedJob, spec: GenerationSpec, encoded: EncodedVideo, workdir: Path
) -> StoredVideo:
    """Put the video and poster in storage; the ``outputs`` rows that record them are the
    one record of a job's outputs (the job's ``result`` keeps its seed and aspect ratio)."""
    job = claimed.job
    # A key per attempt: a worker that lost its lease never overwrites the winner's files.
    prefix = f"outputs/{job.id}/{claimed.lease_token}"
    video = storage.put_file(f"{prefix}/video.mp4", workdir / "video.mp4", "video/mp4")
    try:
        poster = storage.put_file(f"{prefix}/poster.jpg", workdir / "poster.jpg", "image/jpeg")
    except Exception:
        # No half-stored output left behind (and a full disk gets its bytes back),
        # whatever failed: a disk, or an object store's request.
        try:
            storage.delete(video.key)
        except Exception:  # the store is failing: the orphan sweep will get it
            log.warning("job %s: could not delete %s after a failed store", job.id, video.key, exc_info=True)
        raise
    rows = [
        {"kind": "video", "storage_key": video.key, "content_type": "video/mp4", "bytes": encoded.bytes,
         "width": encoded.width, "height": encoded.height, "fps": encoded.fps, "duration": encoded.duration,
         "has_audio": encoded.has_audio},
        {"kind": "poster", "storage_key": poster.key, "content_type": "image/jpeg", "bytes": encoded.poster_bytes,
         "width": encoded.poster_width, "height": encoded.poster_height},
    ]
    result = {"seed": spec.seed, "aspect_ratio": spec.options.get("aspect_ratio")}
    return StoredVideo(keys=(video.key, poster.key), result=result, rows=rows)
