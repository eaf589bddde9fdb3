"""The worker: claim → fetch inputs → generate → encode → store → finish.

One worker runs one job at a time with its engine loaded once and kept. Side
task: a watcher thread that heartbeats the lease and notices cancellation or a
lost lease, which the engine sees through ``ctx.cancelled()`` at its next step.

Shutdown has two phases: ``stop`` (finish the running job, claim no more) and,
after a grace period, ``abort`` (stop the engine at its next step and put the
job back in the queue for another worker).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from happyhorse.engines import Engine, GenerationSpec, JobCancelled
from happyhorse.errors import ServiceError
from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.request import JobRequest
from happyhorse.media.encode import EncodedVideo, encode_clip
from happyhorse.rules import RULES
from happyhorse.runtime import Runtime
from happyhorse.storage.sweep import OrphanSweeper
from happyhorse.worker_inputs import InputError, load_inputs

log = logging.getLogger("happyhorse.worker")

# Progress up to here comes from the engine (frames stream into the encoder);
# the rest is storing and finishing.
ENGINE_PROGRESS_SHARE = 95
CANCEL_POLL_SECONDS = 0.25
STORAGE_FULL_CODE = "storage_full"
# The work loop's back-off after an error (a database restart): doubling from the
# first, capped so that a worker is back at work within seconds of the database.
LOOP_RETRY_SECONDS = 0.5
LOOP_RETRY_MAX_SECONDS = 2.0
# "No space" and "over quota" both mean the output disk takes no more bytes.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass
class JobContext:
    """The :class:`~happyhorse.engines.EngineContext` of one job."""

    log: logging.Logger
    write_progress: Callable[[int], bool]
    abort: threading.Event
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    lease_lost: threading.Event = field(default_factory=threading.Event)
    _last_percent: int = 0
    _last_write: float = 0.0

    def report_progress(self, fraction: float) -> None:
        percent = int(max(0.0, min(1.0, fraction)) * ENGINE_PROGRESS_SHARE)
        now = time.monotonic()
        # Never down; and at most a few writes per second.
        if percent > self._last_percent and (now - self._last_write >= 0.25 or percent == ENGINE_PROGRESS_SHARE):
            self._last_percent, self._last_write = percent, now
            try:
                alive = self.write_progress(percent)
            except Exception:
                # Progress is best effort: a database hiccup must not fail the job
                # (the lease watcher decides whether the lease still holds).
                self.log.warning("progress write failed", exc_info=True)
                return
            if not alive:
                self.lease_lost.set()

    def cancelled(self) -> bool:
        return self.cancel_requested.is_set() or self.lease_lost.is_set() or self.abort.is_set()


class Worker:
    def __init__(self, runtime: Runtime, engine: Engine, *, worker_id: str | None = None) -> None:
        self.runtime = runtime
        self.engine = engine
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:x}"
        self.stop = threading.Event()
        self.abort = threading.Event()
        self._next_reap = 0.0
        self._sweeper: OrphanSweeper | None = None
        # Not at start: a worker that crashes and restarts in a loop should not sweep each time.
        self._next_sweep = time.monotonic() + runtime.settings.storage_sweep_interval_seconds

    def run(self) -> None:
        """Work until :attr:`stop` is set."""
        settings = self.runtime.settings
        log.info("worker %s ready (engine %s)", self.worker_id, self.engine.name)
        failures = 0  # in a row: the back-off grows with them, and only the first gets a traceback
        while not self.stop.is_set():
            try:
                self.reap_if_due()
                lease = self.runtime.queue.claim_next(
                    self.worker_id, lease_seconds=settings.lease_seconds, engine=self.engine.name,
                    max_running_per_account=settings.max_running_jobs_per_account,
                )
                failures = 0
                if lease is None:
                    self.runtime.queue.wait_for_work(timeout=0.5)
                    continue
                self.run_job(lease)
            except Exception as exc:
                # A database or storage outage (a PostgreSQL restart) must not end the
                # worker: back off and retry until it is over. A job it was finishing
                # keeps its lease until the reaper takes it back.
                failures += 1
                delay = min(LOOP_RETRY_MAX_SECONDS, LOOP_RETRY_SECONDS * 2 ** (failures - 1))
                if failures == 1:
                    log.exception("worker %s: error in the work loop; retrying in %.1fs", self.worker_id, delay)
                else:
                    log.warning("worker %s: still failing (%d in a row: %s); retrying in %.1fs", self.worker_id,
                                failures, _first_line(exc), delay)
                self.stop.wait(delay)
        log.info("worker %s stopped", self.worker_id)

    def reap_if_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_reap:
            self._next_reap = now + self.runtime.settings.lease_seconds / 3
            result = self.runtime.queue.reap_expired(max_attempts=self.runtime.settings.max_attempts)
            for name in ("requeued", "failed", "cancelled"):
                if getattr(result, name):
                    log.warning("reaper %s expired jobs: %s", name, ", ".join(getattr(result, name)))
        self.sweep_if_due()

    def sweep_if_due(self) -> None:
        """Every ``storage_sweep_interval_seconds``, delete one bounded batch of orphaned files."""
        settings = self.runtime.settings
        now = time.monotonic()
        if settings.storage_sweep_interval_seconds <= 0 or now < self._next_sweep:
            return
        self._next_sweep = now + settings.storage_sweep_interval_seconds
        if self._sweeper is None:
            self._sweeper = OrphanSweeper(
                self.runtime.db, self.runtime.storage, grace_seconds=settings.storage_sweep_grace_seconds,
                upload_ttl_seconds=settings.upload_ttl_seconds,
            )
        try:
            report = self._sweeper.sweep_once()
        except Exception:
            # Housekeeping: a failed pass must not keep the worker from its jobs.
            log.warning("storage sweep failed; trying again in %.0fs", settings.storage_sweep_interval_seconds,
                        exc_info=True)
            return
        if report.deleted or report.debris or report.expired:
            log.info("storage sweep deleted %d orphaned files (%d bytes), %d expired uploads and %d leftovers "
                     "of unfinished writes", len(report.deleted), report.bytes_deleted, len(report.expired),
                     len(report.debris))

    def run_job(self, lease: ClaimedJob) -> str:
        """Run one claimed job to its end; returns what happened (for logs and tests)."""
        queue = self.runtime.queue
        started = time.monotonic()
        ctx = JobContext(
            log=log.getChild(lease.job.id),
            write_progress=lambda p: queue.report_progress(lease, p),
            abort=self.abort,
        )
        watcher = _LeaseWatcher(self.runtime, lease, ctx)
        watcher.start()
        try:
            outcome = self._generate_and_finish(lease, ctx)
        finally:
            watcher.stop()
        log.info("job %s %s in %.2fs (attempt %d)", lease.job.id, outcome, time.monotonic() - started, lease.job.attempt)
        return outcome

    def _generate_and_finish(self, lease: ClaimedJob, ctx: JobContext) -> str:
        queue = self.runtime.queue
        job = lease.job
        workdir = Path(tempfile.mkdtemp(prefix=f"{job.id}-", dir=self._tmp_dir()))
        try:
            try:
                images = load_inputs(self.runtime, job)
                spec = _spec_for(job.request, images, self.engine.name)
                clip = self.engine.generate(spec, ctx)
                encoded = encode_clip(
                    clip, workdir / "video.mp4", workdir / "poster.jpg", watermark=job.request.watermark
                )
            except JobCancelled:
                return self._after_stop(lease, ctx)
            except InputError as exc:
                failed = queue.fail(lease, code="invalid_image", message=exc.message)
                return "failed" if failed else "lost"
            except ServiceError as exc:
                return "failed" if queue.fail(lease, code=exc.code, message=exc.message) else "lost"
            except Exception as exc:  # an engine or encoder fault: the job fails, the worker lives on
                log.exception("job %s failed in the engine", job.id)
                message = f"generation failed: {type(exc).__name__}: {exc}"[:500]
                failed = queue.fail(lease, code="generation_failed", message=message)
                return "failed" if failed else "lost"
            if ctx.cancelled():
                return self._after_stop(lease, ctx)
            try:
                return self._store_and_complete(lease, spec, encoded, workdir)
            except OSError as exc:
                if exc.errno not in _DISK_FULL:
                    raise  # other storage faults: the lease lapses and the job is retried elsewhere
                # A full output disk will not empty itself before a retry: fail the
                # job now with a code the client can act on, and give the hold back.
                log.error("job %s: output storage is full: %s", job.id, exc)
                message = "the server ran out of space for outputs while storing the video; try again later"
                failed = queue.fail(lease, code=STORAGE_FULL_CODE, message=message)
                return "failed" if failed else "lost"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _after_stop(self, lease: ClaimedJob, ctx: JobContext) -> str:
        queue, job_id = self.runtime.queue, lease.job.id
        if ctx.lease_lost.is_set():
            return "lost"
        if ctx.cancel_requested.is_set():
            return "cancelled" if queue.acknowledge_cancel(lease) else "lost"
        # Requeued: the hold stays pending for the next attempt (released only if it ended cancelled).
        return "released" if queue.release(lease) else "lost"

    def _store_and_complete(self, lease: ClaimedJob, spec: GenerationSpec, encoded: EncodedVideo, workdir: Path) -> str:
        storage, job = self.runtime.storage, lease.job
        # A key per attempt: a worker that lost its lease never overwrites the winner's files.
        prefix = f"outputs/{job.id}/{lease.lease_token}"
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
        output = {
            "type": "video",
            "storage_key": video.key,
            "poster_key": poster.key,
            "content_type": "video/mp4",
            "width": encoded.width,
            "height": encoded.height,
            "fps": encoded.fps,
            "duration": encoded.duration,
            "has_audio": encoded.has_audio,
            "bytes": encoded.bytes,
        }
        result = {"seed": spec.seed, "aspect_ratio": spec.options.get("aspect_ratio"), "outputs": [output]}
        rows = [
            {"kind": "video", "storage_key": video.key, "content_type": "video/mp4", "bytes": encoded.bytes,
             "width": encoded.width, "height": encoded.height, "fps": encoded.fps, "duration": encoded.duration,
             "has_audio": encoded.has_audio},
            {"kind": "poster", "storage_key": poster.key, "content_type": "image/jpeg", "bytes": encoded.poster_bytes,
             "width": encoded.poster_width, "height": encoded.poster_height},
        ]
        if self.runtime.queue.complete(
            lease, result=result, outputs=rows, engine=self.engine.name
        ):
            return "completed"
        # We lost the job while finishing: drop our output, charge nothing.
        for key in (video.key, poster.key):
            storage.delete(key)
        return "lost"

    def _tmp_dir(self) -> Path:
        path = self.runtime.settings.data_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _spec_for(request: JobRequest, images: list, engine_name: str) -> GenerationSpec:
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


class _LeaseWatcher:
    """Side task of one job: heartbeats the lease and watches for cancel or loss."""

    def __init__(self, runtime: Runtime, lease: ClaimedJob, ctx: JobContext) -> None:
        self.runtime, self.lease, self.ctx = runtime, lease, ctx
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.job.id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        settings = self.runtime.settings
        extended_at = time.monotonic()  # the claim set the lease; each heartbeat renews it
        next_beat = extended_at + settings.heartbeat_seconds
        failures = 0
        while not self._done.wait(CANCEL_POLL_SECONDS):
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + settings.heartbeat_seconds
                    beat = self.runtime.queue.heartbeat(self.lease, lease_seconds=settings.lease_seconds)
                    alive, cancel = beat.alive, beat.cancel_requested
                    if alive:
                        extended_at = time.monotonic()
                else:
                    alive, cancel = self.runtime.queue.lease_state(self.lease)
                failures = 0
            except Exception as exc:
                # A database hiccup: keep trying until the lease would expire anyway
                # (one traceback per streak: the watcher looks four times a second).
                failures += 1
                if failures == 1:
                    log.warning("heartbeat for %s failed", self.lease.job.id, exc_info=True)
                else:
                    log.debug("heartbeat for %s failed again: %s", self.lease.job.id, _first_line(exc))
                alive, cancel = True, False
            if time.monotonic() - extended_at >= settings.lease_seconds:
                # Heartbeats kept failing for a whole lease: the lease is gone by now
                # (the reaper may hand the job to another worker), so stop working on it.
                log.error("job %s: no heartbeat for %.0fs; giving it up", self.lease.job.id, settings.lease_seconds)
                alive = False
            if cancel:
                self.ctx.cancel_requested.set()
            if not alive:
                self.ctx.lease_lost.set()
                return


class WorkerThread:
    """A :class:`Worker` in a background thread (``happyhorse serve``)."""

    def __init__(self, worker: Worker, *, grace_seconds: float) -> None:
        self.worker = worker
        self.grace_seconds = grace_seconds
        self._thread = threading.Thread(target=self._run, name="happyhorse-worker", daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run()
        except Exception:
            log.exception("worker crashed")

    def start(self) -> None:
        self._thread.start()

    def stop_and_join(self) -> None:
        """Stop claiming; give the running job the grace period, then put it back in the queue."""
        self.worker.stop.set()
        self._thread.join(self.grace_seconds)
        if self._thread.is_alive():
            log.warning("job still running after %.0fs grace; releasing it to the queue", self.grace_seconds)
            self.worker.abort.set()
            self._thread.join()
