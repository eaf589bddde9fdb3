"""One job's run, as numbered steps: inputs → spec → generate → encode → store.

The steps come in three parts, because a pipelining worker runs them on
different threads (:mod:`~happyhorse.worker.pipeline`): :func:`prepare` (1-2,
the intake thread, ahead of the GPU), :func:`generate` (3, the GPU's thread),
:func:`finish_run` (4-5, the finisher thread, while the GPU generates the next
job). :func:`run_job` runs them one after the other.

Each part returns an :class:`~happyhorse.worker.outcome.Outcome` when the job
ends there, and writes nothing to the queue itself
(:func:`~happyhorse.worker.outcome.finish_job` does). Only :func:`finish_run`
raises, and only for faults that are the machine's, not the job's (a storage
outage other than a full disk): the lease then lapses and the reaper gives the
job to another worker.
"""

from __future__ import annotations

import errno
import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from happyhorse.engines import Clip, Engine, GenerationSpec, JobCancelled
from happyhorse.errors import ServiceError
from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.request import JobRequest
from happyhorse.media.encode import EncodedVideo, encode_clip
from happyhorse.metrics.jobs import JobTimer
from happyhorse.rules import RULES
from happyhorse.runtime import Runtime
from happyhorse.storage.base import Storage
from happyhorse.worker.inputs import InputError, load_inputs
from happyhorse.worker.lease import JobContext
from happyhorse.worker.outcome import CANCELLED, LOST, RELEASED, STORAGE_FULL_CODE, Outcome, StoredVideo

log = logging.getLogger("happyhorse.worker")

# "No space" and "over quota" both mean the output disk takes no more bytes.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class Generated:
    """A job past the engine: its spec and the clip (whose frames may still be streaming)."""

    spec: GenerationSpec
    clip: Clip


def run_job(runtime: Runtime, engine: Engine, claimed: ClaimedJob, ctx: JobContext, workdir: Path) -> Outcome:
    """Run one claimed job in ``workdir`` (the caller makes and removes it), every step in turn."""
    spec = prepare(runtime, engine.name, claimed)
    if isinstance(spec, Outcome):
        return spec
    generated = generate(engine, claimed, spec, ctx)
    if isinstance(generated, Outcome):
        return generated
    return finish_run(runtime, claimed, generated, ctx, workdir)


def prepare(runtime: Runtime, engine_name: str, claimed: ClaimedJob) -> GenerationSpec | Outcome:
    """Steps 1-2: the job's inputs and the engine's spec, or the job's failure."""
    try:
        # 1. Inputs: the job's images, read from storage and checked again.
        images = load_inputs(runtime, claimed.job)
        # 2. The engine's spec: frame size (i2v follows its image), frames, seed.
        return spec_for(claimed.job.request, images, engine_name)
    except Exception as exc:
        return _ended_by(exc, claimed, None)


def generate(engine: Engine, claimed: ClaimedJob, spec: GenerationSpec, ctx: JobContext) -> Generated | Outcome:
    """Step 3: the engine's work on the job (the GPU's part), or how the job ended in it."""
    try:
        if ctx.cancelled():
            return stopped(ctx)
        return Generated(spec, engine.generate(spec, ctx))
    except Exception as exc:
        return _ended_by(exc, claimed, ctx)


def finish_run(
    runtime: Runtime, claimed: ClaimedJob, generated: Generated, ctx: JobContext, workdir: Path, *,
    timer: JobTimer | None = None,
) -> Outcome:
    """Steps 4-5: encode the clip (frames stream from the engine into the encoder) and store it
    (timed as ``encode``, then ``store``: one after the other)."""
    job = claimed.job
    if ctx.cancelled():  # it may have waited for the finisher
        return stopped(ctx)
    try:
        # 4. Encode: the MP4 and its poster, in the job's work folder.
        with _phase(timer, "encode"):
            encoded = encode_clip(generated.clip, workdir / "video.mp4", workdir / "poster.jpg",
                                  watermark=job.request.watermark)
    except Exception as exc:
        return _ended_by(exc, claimed, ctx)
    if ctx.cancelled():
        return stopped(ctx)
    # 5. Store: the video and its poster, under a key of this attempt.
    try:
        with _phase(timer, "store"):
            stored = store_outputs(runtime.storage, claimed, generated.spec, encoded, workdir)
        return Outcome.completed(stored)
    except OSError as exc:
        if exc.errno not in _DISK_FULL:
            raise  # other storage faults: the lease lapses and the job is retried elsewhere
        # A full output disk will not empty itself before a retry: fail the job now
        # with a code the client can act on (the queue gives the hold back).
        log.error("job %s: output storage is full: %s", job.id, exc)
        return Outcome.failed(
            STORAGE_FULL_CODE, "the server ran out of space for outputs while storing the video; try again later"
        )


def _phase(timer: JobTimer | None, name: str) -> AbstractContextManager[None]:
    return timer.phase(name) if timer is not None else nullcontext()


def _ended_by(exc: Exception, claimed: ClaimedJob, ctx: JobContext | None) -> Outcome:
    """How an exception in a step ends the job: stopped, or failed with a code the client can read."""
    if isinstance(exc, JobCancelled) and ctx is not None:
        return stopped(ctx)
    if isinstance(exc, InputError):
        return Outcome.failed("invalid_image", exc.message)
    if isinstance(exc, ServiceError):
        return Outcome.failed(exc.code, exc.message)
    # An engine or encoder fault: the job fails, the worker lives on.
    log.error("job %s failed in the engine", claimed.job.id, exc_info=exc)
    return Outcome.failed("generation_failed", f"generation failed: {type(exc).__name__}: {exc}"[:500])


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
