"""The worker's loop: claim → generate → finish, with the GPU never waiting on the CPU.

One worker runs its engine (loaded once and kept) on one job at a time, on
the loop's thread. With an engine that does its heavy work inside
``generate`` (``engine.pipelined``: a diffusion model on a GPU), the loop
pipelines (:mod:`~happyhorse.worker.pipeline`): the next job is claimed and
its inputs loaded while the current one finishes generating, and each job is
encoded, stored and ended on the finisher's thread while the engine
generates the next. Other engines (``preview``, whose frames are rendered as
the encoder pulls them) run one job after the other, each claimed when the
last has ended. Side tasks: each job's lease watcher
(:mod:`~happyhorse.worker.lease`) and the worker's housekeeping thread
(:mod:`~happyhorse.worker.housekeeping`).

Shutdown has two phases, the same for ``happyhorse worker`` (signals) and
``happyhorse serve`` (:class:`~happyhorse.worker.thread.WorkerThread`):
:meth:`Worker.shut_down` sets ``stop`` (finish the jobs under way, claim no
more, give back a job claimed ahead) and, after the grace period, ``abort``
(stop the engine at its next step and put the jobs back in the queue for
another worker).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from happyhorse.engines import Engine, engine_modes
from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.notify import Listener
from happyhorse.logs import bind, log_context
from happyhorse.runtime import Runtime
from happyhorse.webhooks.delivery import Deliverer, RetryPolicy
from happyhorse.worker.active import ActiveJob
from happyhorse.worker.housekeeping import Housekeeping
from happyhorse.worker.lease import first_line
from happyhorse.worker.outcome import RELEASED, Ending, Outcome
from happyhorse.worker.pipeline import CLAIM_AHEAD_AT, Finisher, Intake
from happyhorse.worker.run import Generated, finish_run, generate, prepare

log = logging.getLogger("happyhorse.worker")

# The work loop's back-off after an error (a database restart): doubling from the
# first, capped so that a worker is back at work within seconds of the database.
LOOP_RETRY_SECONDS = 0.5
LOOP_RETRY_MAX_SECONDS = 2.0
# An idle worker looks at the queue this often; a job queued by this process (or, on
# PostgreSQL, announced by another: see happyhorse.jobs.notify) wakes it at once.
POLL_SECONDS = 0.5


class Worker:
    def __init__(self, runtime: Runtime, engine: Engine, *, worker_id: str | None = None,
                 webhook_policy: RetryPolicy | None = None, listen: bool = True) -> None:
        self.runtime = runtime
        self.engine = engine
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:x}"
        self.pipelined = bool(getattr(engine, "pipelined", False))
        """Whether the next job generates while the last one is encoded (see the module's doc)."""
        self.modes = engine_modes(engine)
        """The modes the engine serves: the worker claims jobs of these only, and registers them."""
        self.stop = threading.Event()
        """Set: finish the jobs under way, claim no more."""
        self.abort = threading.Event()
        """Set: stop the jobs under way at the engine's next step and give them back to the queue."""
        self.housekeeping = Housekeeping(runtime, register=self.register)
        self.webhooks = Deliverer(runtime.db, allow_private=runtime.settings.allow_private_fetch,
                                  policy=webhook_policy, metrics=runtime.metrics)
        """The webhook delivery loop, a side task beside housekeeping (never in the way of jobs)."""
        self.listener = (Listener(runtime.db, on_job=runtime.queue.wake, on_cancel=self._cancel_announced)
                         if listen and runtime.db.dialect.name == "postgresql" else None)
        """On PostgreSQL: hears of jobs queued and cancels requested by other processes at once."""
        self._held: set[ActiveJob] = set()
        self._held_lock = threading.Lock()
        self._abort_timer: threading.Timer | None = None

    def run(self) -> None:
        """Work until :attr:`stop` is set, with the housekeeping thread beside the loop."""
        bind(worker_id=self.worker_id)  # on every line of this thread and of those it starts
        self.runtime.metrics.busy.window(self.worker_id)  # its busy ratio shows (0) from the start
        log.info("worker %s ready (engine %s serving %s%s)", self.worker_id, self.engine.name,
                 ", ".join(self.modes), ", pipelined" if self.pipelined else "")
        try:
            self.register()
        except Exception:  # the database is away: housekeeping registers once it is back
            log.warning("worker %s: could not register; retrying from housekeeping", self.worker_id, exc_info=True)
        self.housekeeping.start()
        self.webhooks.start()
        if self.listener is not None:
            self.listener.start()
        intake, finisher = Intake(self._claim), Finisher(self._finish)
        try:
            self._work(intake, finisher)
        finally:
            self._give_back(intake.close())
            finisher.close()
            self.housekeeping.stop()
            self.webhooks.stop()
            if self.listener is not None:
                self.listener.stop()
            self._unregister()
            if self._abort_timer is not None:  # ended within its grace: nothing left to abort
                self._abort_timer.cancel()
        log.info("worker %s stopped", self.worker_id)

    def register(self) -> None:
        """Record (or refresh) this worker, its engine and the modes it serves in the worker
        registry, which the API reads to tell which modes the deployment serves."""
        self.runtime.workers.register(self.worker_id, self.engine.name, self.modes)

    def _cancel_announced(self, job_id: str) -> None:
        """The listener heard that ``job_id``'s cancel was requested: if this worker holds it,
        its lease watcher looks now (and the engine stops at its next step)."""
        with self._held_lock:
            held = [job for job in self._held if job.id == job_id]
        for job in held:
            job.look_now()

    def _unregister(self) -> None:
        try:
            self.runtime.workers.unregister(self.worker_id)
        except Exception:  # the database is away: the registration lapses by itself
            log.warning("worker %s: could not unregister; its registration will lapse", self.worker_id,
                        exc_info=True)

    def _work(self, intake: Intake, finisher: Finisher) -> None:
        failures = 0  # in a row: the back-off grows with them, and only the first gets a traceback
        while not self.stop.is_set():
            try:
                job = intake.next()
                failures = 0
                if job is None:
                    self.runtime.queue.wait_for_work(timeout=POLL_SECONDS)
                    continue
                if self.stop.is_set():  # claimed ahead just before the stop: another worker may start it
                    self._give_back(job)
                    break
                generated = self._generate(job, on_progress=self._claim_ahead(intake))
                if isinstance(generated, Ending):
                    continue
                if self.pipelined:
                    finisher.hand_over(job, generated)  # waits for the job before it to be finished
                else:
                    self._finish(job, generated)
            except Exception as exc:
                # A database or storage outage (a PostgreSQL restart) must not end the
                # worker: back off and retry until it is over. A job it was finishing
                # keeps its lease until the reaper takes it back.
                failures += 1
                self.runtime.metrics.count_database_error("worker", exc)
                delay = min(LOOP_RETRY_MAX_SECONDS, LOOP_RETRY_SECONDS * 2 ** (failures - 1))
                if failures == 1:
                    log.exception("worker %s: error in the work loop; retrying in %.1fs", self.worker_id, delay)
                else:
                    log.warning("worker %s: still failing (%d in a row: %s); retrying in %.1fs", self.worker_id,
                                failures, first_line(exc), delay)
                self.stop.wait(delay)

    def run_job(self, claimed: ClaimedJob) -> Ending:
        """Run one claimed job to its end, every step on this thread, and write that end;
        returns how it ended. Raises for the machine's faults (see :mod:`~happyhorse.worker.run`)."""
        bind(worker_id=self.worker_id)
        with log_context(job_id=claimed.job.id, account_id=claimed.job.account_id):
            job = self._hold(claimed)
            with job.timer.phase("inputs"):
                job.prepared = prepare(self.runtime, self.engine.name, claimed)
        generated = self._generate(job)
        return generated if isinstance(generated, Ending) else self._finish(job, generated)

    # -- the stages ------------------------------------------------------------

    def _claim(self) -> ActiveJob | None:
        """The intake's work: the next job this worker may start, with its inputs loaded."""
        if self.stop.is_set():
            return None
        settings = self.runtime.settings
        claimed = self.runtime.queue.claim_next(
            self.worker_id, lease_seconds=settings.lease_seconds, engine=self.engine.name,
            max_running_per_account=settings.max_running_jobs_per_account, modes=self.modes,
        )
        if claimed is None:
            return None
        with log_context(job_id=claimed.job.id, account_id=claimed.job.account_id):
            job = self._hold(claimed)  # its lease watcher's thread carries the job's ids
            with job.timer.phase("inputs"):
                job.prepared = prepare(self.runtime, self.engine.name, claimed)
        return job

    def _generate(
        self, job: ActiveJob, *, on_progress: Callable[[float], None] | None = None
    ) -> Generated | Ending:
        """The GPU's part of ``job``, on this thread: what is left to finish, or how the job
        ended here (bad inputs, an engine fault, a cancel), written."""
        with job.log_context():
            if isinstance(job.prepared, Outcome):
                return job.end(job.prepared)
            assert job.prepared is not None
            job.ctx.on_progress = on_progress
            try:
                with job.timer.phase("generate"):  # the engine's call: the worker's busy time
                    generated = generate(self.engine, job.claimed, job.prepared, job.ctx)
            except BaseException:
                job.drop()
                raise
            finally:
                job.ctx.on_progress = None
            return job.end(generated) if isinstance(generated, Outcome) else generated

    def _finish(self, job: ActiveJob, generated: Generated) -> Ending:
        """The finisher's work: encode and store ``job``, and write its end."""
        with job.log_context():
            try:
                outcome = finish_run(self.runtime, job.claimed, generated, job.ctx, job.workdir, timer=job.timer)
            except BaseException:
                job.drop()
                raise
            return job.end(outcome)

    def _claim_ahead(self, intake: Intake) -> Callable[[float], None] | None:
        """The hook that claims the next job once the engine is nearly done with this one."""
        if not self.pipelined:
            return None

        def on_progress(fraction: float) -> None:
            if fraction >= CLAIM_AHEAD_AT and not self.stop.is_set():
                intake.claim_ahead()

        return on_progress

    def _give_back(self, job: ActiveJob | None) -> None:
        """Release a job claimed ahead that was never started, so another worker may start it now."""
        if job is None:
            return
        try:
            job.end(RELEASED)
        except Exception:  # the database is down: its lease lapses and the reaper requeues it
            log.warning("job %s: could not give it back; its lease will lapse", job.id, exc_info=True)

    def _hold(self, claimed: ClaimedJob) -> ActiveJob:
        job = ActiveJob(self.runtime, claimed, abort=self.abort, tmp_dir=self._tmp_dir(), engine=self.engine.name,
                        on_close=self._let_go)
        with self._held_lock:
            self._held.add(job)
        return job

    def _let_go(self, job: ActiveJob) -> None:
        with self._held_lock:
            self._held.discard(job)

    def shut_down(self, grace_seconds: float) -> None:
        """Begin the two-phase shutdown: stop now, abort after ``grace_seconds`` if a job still runs.

        Returns at once; :meth:`run` returns when the jobs under way have ended."""
        if self.stop.is_set():
            return
        self.stop.set()
        self.runtime.queue.wake()  # an idle loop sees the stop now, not at its next poll
        self._abort_timer = threading.Timer(grace_seconds, self._abort_after_grace, args=(grace_seconds,))
        self._abort_timer.daemon = True
        self._abort_timer.start()

    def _abort_after_grace(self, grace_seconds: float) -> None:
        with self._held_lock:
            held = sorted(job.id for job in self._held)
        for job_id in held:
            log.warning("job %s still running after %.0fs grace; releasing it to the queue", job_id, grace_seconds)
        self.abort.set()

    def _tmp_dir(self) -> Path:
        path = self.runtime.settings.data_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path
