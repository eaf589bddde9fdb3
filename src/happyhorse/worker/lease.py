"""What the worker holds while a job runs: the engine's context, and the lease watcher.

The watcher is the job's side task: it heartbeats the lease and notices a
cancel request or a lost lease, which the engine sees through
``ctx.cancelled()`` at its next step. It looks every
:data:`CANCEL_POLL_SECONDS`, and at once when the worker hears the job's cancel
announced (PostgreSQL's ``NOTIFY``: :mod:`happyhorse.jobs.notify`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.queue import JobQueue
from happyhorse.logs import in_context
from happyhorse.settings import Settings

log = logging.getLogger("happyhorse.worker")

# Progress up to here comes from the engine (frames stream into the encoder);
# the rest is storing and finishing.
ENGINE_PROGRESS_SHARE = 95
CANCEL_POLL_SECONDS = 0.25


@dataclass
class JobContext:
    """The :class:`~happyhorse.engines.EngineContext` of one job."""

    log: logging.Logger
    write_progress: Callable[[int], bool]
    abort: threading.Event
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    lease_lost: threading.Event = field(default_factory=threading.Event)
    on_progress: Callable[[float], None] | None = None
    """Called with each fraction the engine reports (the worker's cue to claim the next job ahead)."""
    _last_percent: int = 0
    _last_write: float = 0.0

    def report_progress(self, fraction: float) -> None:
        if self.on_progress is not None:
            self.on_progress(fraction)
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


class LeaseWatcher:
    """Side task of one job: heartbeats the lease and watches for cancel or loss."""

    def __init__(self, queue: JobQueue, settings: Settings, claimed: ClaimedJob, ctx: JobContext) -> None:
        self.queue, self.settings, self.claimed, self.ctx = queue, settings, claimed, ctx
        self._done = threading.Event()
        self._look_now = threading.Event()
        self._thread = threading.Thread(target=in_context(self._run), name=f"lease-{claimed.job.id}",
                                        daemon=True)

    def __enter__(self) -> LeaseWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._look_now.set()
        self._thread.join()

    def look_now(self) -> None:
        """Read the job's state at once instead of at the next look (its cancel was announced)."""
        self._look_now.set()

    def _wait(self) -> bool:
        """Wait for the next look; False once the watcher is done."""
        self._look_now.wait(CANCEL_POLL_SECONDS)
        self._look_now.clear()
        return not self._done.is_set()

    def _run(self) -> None:
        settings = self.settings
        extended_at = time.monotonic()  # the claim set the lease; each heartbeat renews it
        next_beat = extended_at + settings.heartbeat_seconds
        failures = 0
        while self._wait():
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + settings.heartbeat_seconds
                    beat = self.queue.heartbeat(self.claimed, lease_seconds=settings.lease_seconds)
                    alive, cancel = beat.alive, beat.cancel_requested
                    if alive:
                        extended_at = time.monotonic()
                else:
                    alive, cancel = self.queue.lease_state(self.claimed)
                failures = 0
            except Exception as exc:
                # A database hiccup: keep trying until the lease would expire anyway
                # (one traceback per streak: the watcher looks four times a second).
                failures += 1
                if failures == 1:
                    log.warning("heartbeat for %s failed", self.claimed.job.id, exc_info=True)
                else:
                    log.debug("heartbeat for %s failed again: %s", self.claimed.job.id, first_line(exc))
                alive, cancel = True, False
            if time.monotonic() - extended_at >= settings.lease_seconds:
                # Heartbeats kept failing for a whole lease: the lease is gone by now
                # (the reaper may hand the job to another worker), so stop working on it.
                log.error("job %s: no heartbeat for %.0fs; giving it up", self.claimed.job.id, settings.lease_seconds)
                alive = False
            if cancel:
                self.ctx.cancel_requested.set()
            if not alive:
                self.ctx.lease_lost.set()
                return


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, short enough for a log line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
