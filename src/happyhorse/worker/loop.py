"""The worker's loop: claim → run → finish, with housekeeping beside it.

One worker runs one job at a time with its engine loaded once and kept. Side
tasks: the job's lease watcher (:mod:`~happyhorse.worker.lease`) and the
worker's housekeeping thread (:mod:`~happyhorse.worker.housekeeping`).

Shutdown has two phases, the same for ``happyhorse worker`` (signals) and
``happyhorse serve`` (:class:`~happyhorse.worker.thread.WorkerThread`):
:meth:`Worker.shut_down` sets ``stop`` (finish the running job, claim no
more) and, after the grace period, ``abort`` (stop the engine at its next
step and put the job back in the queue for another worker).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from happyhorse.engines import Engine
from happyhorse.jobs.model import ClaimedJob
from happyhorse.runtime import Runtime
from happyhorse.worker.housekeeping import Housekeeping
from happyhorse.worker.lease import JobContext, LeaseWatcher, first_line
from happyhorse.worker.outcome import Ending, finish_job
from happyhorse.worker.run import run_job

log = logging.getLogger("happyhorse.worker")

# The work loop's back-off after an error (a database restart): doubling from the
# first, capped so that a worker is back at work within seconds of the database.
LOOP_RETRY_SECONDS = 0.5
LOOP_RETRY_MAX_SECONDS = 2.0


class Worker:
    def __init__(self, runtime: Runtime, engine: Engine, *, worker_id: str | None = None) -> None:
        self.runtime = runtime
        self.engine = engine
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:x}"
        self.stop = threading.Event()
        """Set: finish the running job, claim no more."""
        self.abort = threading.Event()
        """Set: stop the running job at the engine's next step and give it back to the queue."""
        self.housekeeping = Housekeeping(runtime)
        self._running: ClaimedJob | None = None
        self._abort_timer: threading.Timer | None = None

    def run(self) -> None:
        """Work until :attr:`stop` is set, with the housekeeping thread beside the loop."""
        log.info("worker %s ready (engine %s)", self.worker_id, self.engine.name)
        self.housekeeping.start()
        try:
            self._work()
        finally:
            self.housekeeping.stop()
            if self._abort_timer is not None:  # ended within its grace: nothing left to abort
                self._abort_timer.cancel()
        log.info("worker %s stopped", self.worker_id)

    def _work(self) -> None:
        settings = self.runtime.settings
        failures = 0  # in a row: the back-off grows with them, and only the first gets a traceback
        while not self.stop.is_set():
            try:
                claimed = self.runtime.queue.claim_next(
                    self.worker_id, lease_seconds=settings.lease_seconds, engine=self.engine.name,
                    max_running_per_account=settings.max_running_jobs_per_account,
                )
                failures = 0
                if claimed is None:
                    self.runtime.queue.wait_for_work(timeout=0.5)
                    continue
                self.run_job(claimed)
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
                                failures, first_line(exc), delay)
                self.stop.wait(delay)

    def run_job(self, claimed: ClaimedJob) -> Ending:
        """Run one claimed job to its end and write that end; returns how it ended."""
        queue, started = self.runtime.queue, time.monotonic()
        ctx = JobContext(
            log=log.getChild(claimed.job.id),
            write_progress=lambda percent: queue.report_progress(claimed, percent),
            abort=self.abort,
        )
        workdir = Path(tempfile.mkdtemp(prefix=f"{claimed.job.id}-", dir=self._tmp_dir()))
        self._running = claimed
        try:
            with LeaseWatcher(queue, self.runtime.settings, claimed, ctx):
                outcome = run_job(self.runtime, self.engine, claimed, ctx, workdir)
                return finish_job(queue, self.runtime.storage, claimed, outcome, engine=self.engine.name,
                                  seconds=time.monotonic() - started)
        finally:
            self._running = None
            shutil.rmtree(workdir, ignore_errors=True)

    def shut_down(self, grace_seconds: float) -> None:
        """Begin the two-phase shutdown: stop now, abort after ``grace_seconds`` if a job still runs.

        Returns at once; :meth:`run` returns when the running job has ended."""
        if self.stop.is_set():
            return
        self.stop.set()
        self._abort_timer = threading.Timer(grace_seconds, self._abort_after_grace, args=(grace_seconds,))
        self._abort_timer.daemon = True
        self._abort_timer.start()

    def _abort_after_grace(self, grace_seconds: float) -> None:
        running = self._running
        if running is not None:
            log.warning("job %s still running after %.0fs grace; releasing it to the queue", running.job.id,
                        grace_seconds)
        self.abort.set()

    def _tmp_dir(self) -> Path:
        path = self.runtime.settings.data_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path
