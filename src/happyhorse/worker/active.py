"""A job while a worker holds it: from its claim to the write of its end.

An :class:`ActiveJob` owns what lives exactly that long: the engine's
context, the lease watcher (heartbeats, cancel, loss) and a work folder. In a
pipelining worker it moves between threads (claimed by the intake, generated
on the GPU's thread, finished on the finisher's), so everything about the job
travels in it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from happyhorse.engines import GenerationSpec
from happyhorse.jobs.model import ClaimedJob
from happyhorse.logs import log_context
from happyhorse.metrics.jobs import JobTimer
from happyhorse.runtime import Runtime
from happyhorse.worker.lease import JobContext, LeaseWatcher
from happyhorse.worker.outcome import Ending, Outcome, finish_job

log = logging.getLogger("happyhorse.worker")


class ActiveJob:
    """A claimed job, its lease watched from the claim until :meth:`end` or :meth:`drop`."""

    def __init__(
        self, runtime: Runtime, claimed: ClaimedJob, *, abort: threading.Event, tmp_dir: Path,
        engine: str, on_close: Callable[[ActiveJob], None] = lambda job: None,
    ) -> None:
        queue = runtime.queue
        self.runtime, self.claimed, self.engine = runtime, claimed, engine
        self.started = time.monotonic()
        self.ctx = JobContext(
            log=log.getChild(claimed.job.id),
            write_progress=lambda percent: queue.report_progress(claimed, percent),
            abort=abort,
        )
        self.prepared: GenerationSpec | Outcome | None = None
        """What :func:`~happyhorse.worker.run.prepare` made of it: the engine's spec, or the job's end."""
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{claimed.job.id}-", dir=tmp_dir))
        self._on_close = on_close
        self._watcher = LeaseWatcher(queue, runtime.settings, claimed, self.ctx)
        self._watcher.__enter__()
        self.timer = JobTimer(runtime.metrics, engine=engine, resolution=claimed.job.request.resolution,
                              busy=runtime.metrics.busy.window(claimed.worker_id))
        """The job's phases and ending, for the worker's metrics (see :mod:`happyhorse.metrics.jobs`)."""
        if claimed.job.attempt == 1 and claimed.job.heartbeat_at is not None:
            # Submitted -> claimed, both by the database clock (the claim sets heartbeat_at to its now).
            self.timer.observe("waiting", claimed.job.heartbeat_at - claimed.job.created_at)

    @property
    def id(self) -> str:
        return self.claimed.job.id

    def log_context(self) -> AbstractContextManager[None]:
        """The job's ids on every log line written in the block (see :mod:`happyhorse.logs`)."""
        return log_context(job_id=self.id, account_id=self.claimed.job.account_id)

    def look_now(self) -> None:
        """Check for a cancel (or a lost lease) at once: its cancel was announced."""
        watcher = self._watcher
        if watcher is not None:
            watcher.look_now()

    def end(self, outcome: Outcome) -> Ending:
        """Write ``outcome`` (fenced by the lease), then let the job go; returns how it really ended."""
        ending = Ending.LOST  # unless written: a write that raised leaves the lease to lapse
        try:
            with self.timer.phase("finish"):
                ending = finish_job(self.runtime.queue, self.runtime.storage, self.claimed, outcome,
                                    engine=self.engine, seconds=time.monotonic() - self.started)
            return ending
        finally:
            self.timer.ended(ending.value, output_seconds=self.claimed.job.request.duration)
            self.drop()

    def drop(self) -> None:
        """Let the job go without writing anything: no more heartbeats, so its lease lapses
        and the reaper hands it to another worker. Idempotent."""
        self.timer.ended(Ending.LOST.value)  # unless its end was written (and counted) first
        if self._watcher is None:
            return
        watcher, self._watcher = self._watcher, None
        watcher.__exit__(None, None, None)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self._on_close(self)
