"""The job queue: the one place that writes job rows (and their output rows).

Leases, not row locks, hold a job: a claim bumps ``lease_token`` and every
later worker write carries ``AND lease_token = :token AND status = 'running'``.
Zero rows changed means the worker lost the job (the reaper took it back and
maybe another worker has it): the write is dropped and the method returns
False, so the worker drops its output and charges nothing.

Statuses move only as :data:`happyhorse.jobs.status.TRANSITIONS` allows; each
write below names its event and takes source and target from that table.
Times come from the database clock (:func:`happyhorse.db.clock.db_now`).

Every write that ends a job (completed, failed or cancelled: :meth:`complete`,
:meth:`fail`, :meth:`acknowledge_cancel`, :meth:`release`, :meth:`request_cancel`,
:meth:`reap_expired`) calls the queue's ``on_end(conn, job_id, status)`` hook
once, inside the same transaction and only after the fenced update changed the
row; a requeue ends nothing and calls nothing. The service wires billing there
(:func:`happyhorse.billing.holds.settle_hold`), so a job's hold is settled
exactly when, and only if, the job ends. Likewise every claim calls ``on_start(conn,
job_id)`` in the claim's transaction (the service writes the ``video.started``
webhook event there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Update, case, func, insert, literal, null, select, update
from sqlalchemy.engine import Connection, Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import jobs
from happyhorse.db.schema import outputs as outputs_table
from happyhorse.errors import Conflict
from happyhorse.ids import new_id
from happyhorse.jobs import fairness, polling, queries, views
from happyhorse.jobs.polling import PolledJob
from happyhorse.jobs.request import JobRequest
from happyhorse.jobs.views import JobView
from happyhorse.jobs.model import ClaimedJob, HeartbeatResult, Job, Lease, ReapResult
from happyhorse.jobs.status import Event, Status, transition
from happyhorse.jobs.notify import CANCEL_CHANNEL, JOBS_CHANNEL, announce
from happyhorse.jobs.wakeup import CommitSignal

OnEnd = Callable[[Connection, str, Status], None]
"""``on_end(conn, job_id, status)``: run in the transaction that ended the job (``status`` is
completed, failed or cancelled), after its fenced update succeeded."""

OnStart = Callable[[Connection, str], None]
"""``on_start(conn, job_id)``: run in the transaction of every claim of the job (a retry's too)."""

LeaseLike = Lease | ClaimedJob

POISON_CODE = "worker_lost"


def _lease(held: LeaseLike) -> Lease:
    return held.lease if isinstance(held, ClaimedJob) else held


class JobQueue:
    """Submit, claim, lease, finish, cancel and reap jobs on one database.

    Thread-safe: every method uses its own connection from ``engine``'s pool.
    Make one per engine and share it: each instance hooks the engine's events
    for the in-process wake-up of :meth:`wait_for_work`. ``on_end`` is called
    once for every job that ends, ``on_start`` for every claim (see the module docstring).
    """

    def __init__(self, engine: Engine, *, on_end: OnEnd | None = None, on_start: OnStart | None = None) -> None:
        self.engine = engine
        self._on_end = on_end
        self._on_start = on_start
        self._now = db_now(engine.dialect.name)
        self._work = CommitSignal(engine)

    # -- submitting ------------------------------------------------------

    def insert_job(
        self, conn: Connection, *, job_id: str, account_id: str, model: str, request: JobRequest, priority: int = 0
    ) -> None:
        """Add a queued job inside the caller's transaction (lower ``priority`` runs first).

        Idle workers wake once that transaction commits: this process's at once,
        other processes' through ``NOTIFY`` on PostgreSQL (see :mod:`happyhorse.jobs.notify`).
        """
        conn.execute(
            insert(jobs).values(
                id=job_id, account_id=account_id, model=model, status=Status.QUEUED.value, request=request.to_json(),
                priority=priority, progress=0, lease_token=0, attempt=0, cancel_requested=False,
                created_at=self._now,
            )
        )
        self._work.mark(conn)
        announce(conn, JOBS_CHANNEL)

    def wait_for_work(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds; return early when this process commits a new job
        or :meth:`wake` is called (by the PostgreSQL listener, for other processes' jobs).

        Call :meth:`claim_next` after every return: a wake-up may find nothing, and
        without one, jobs of other processes are found by polling.
        """
        self._work.wait(timeout)

    def wake(self) -> None:
        """Wake this process's idle workers now (a job was queued elsewhere)."""
        self._work.set()

    # -- the worker's side -----------------------------------------------

    def claim_next(
        self, worker_id: str, *, lease_seconds: float = 30.0, engine: str | None = None,
        max_running_per_account: int = 0, modes: Iterable[str] | None = None,
    ) -> ClaimedJob | None:
        """Lease the next queued job, or None when none is claimable.

        Fair across accounts (see :mod:`happyhorse.jobs.fairness`): the account
        served least recently goes first (lower ``priority`` before all), and
        its job is its oldest by (priority, created_at, id).
        ``engine`` names the engine that will run it (shown on the job from now on).
        ``max_running_per_account`` (0: no cap) skips the jobs of accounts that
        already have that many running, so one account cannot take every worker.
        ``modes`` (None: every mode) are the modes the worker's engine serves: a job
        of any other mode is never claimed, and waits for a worker that serves it.

        One short transaction. PostgreSQL skips rows other claimers have locked;
        SQLite serialises claimers with ``BEGIN IMMEDIATE`` (see ``make_engine``).
        """
        postgres = self.engine.dialect.name == "postgresql"
        only = fairness.mode_subset(modes)
        with self.engine.begin() as conn:
            account_id = conn.execute(fairness.next_account_query(max_running_per_account, only)).scalar()
            if account_id is None:
                return None
            row = conn.execute(
                self._claim_statement(worker_id, lease_seconds, engine, max_running_per_account, account_id, only)
            ).first()
            if row is None and postgres:
                # Concurrent claimers took that account's jobs since we looked: take
                # anyone's oldest rather than leave this worker idle for a poll.
                row = conn.execute(
                    self._claim_statement(worker_id, lease_seconds, engine, max_running_per_account, None, only)
                ).first()
            if row is not None and self._on_start is not None:
                self._on_start(conn, row.id)
        if row is None:
            return None
        job = Job.from_row(row)
        return ClaimedJob(job=job, lease=Lease(job_id=job.id, token=job.lease_token, worker_id=worker_id))

    def _claim_statement(
        self, worker_id: str, lease_seconds: float, engine: str | None, max_running_per_account: int,
        account_id: str | None, modes: tuple[str, ...] | None,
    ) -> Update:
        """``UPDATE ... RETURNING`` that leases the oldest queued job (of ``account_id``, if given;
        of ``modes``, if given)."""
        t = transition(Event.CLAIM)
        next_id = (
            select(jobs.c.id)
            .where(jobs.c.status == t.source.value)
            .order_by(*queries.claim_order(jobs))
            .limit(1)
        )
        if modes is not None:
            next_id = next_id.where(fairness.mode_in(jobs, modes))
        if account_id is not None:
            next_id = next_id.where(jobs.c.account_id == account_id)
        if max_running_per_account > 0:
            running = jobs.alias("running")
            running_count = (
                select(func.count()).select_from(running)
                .where(running.c.account_id == jobs.c.account_id, running.c.status == Status.RUNNING.value)
                .scalar_subquery()
            )
            # On PostgreSQL two claimers committing at the same moment may each see
            # the other's job as still queued, so the cap can be passed by (workers - 1)
            # for an instant; it is a fairness cap, not a billing one.
            next_id = next_id.where(running_count < max_running_per_account)
        if self.engine.dialect.name == "postgresql":
            next_id = next_id.with_for_update(skip_locked=True)
        return (
            update(jobs)
            .where(jobs.c.id == next_id.scalar_subquery(), jobs.c.status == t.source.value)
            .values(
                status=t.target.value, worker_id=worker_id, lease_token=jobs.c.lease_token + 1,
                attempt=jobs.c.attempt + 1, lease_expires_at=self._now + lease_seconds, heartbeat_at=self._now,
                started_at=case((jobs.c.started_at.is_(None), self._now), else_=jobs.c.started_at),
                **({"engine": engine} if engine else {}),
            )
            .returning(*jobs.c)
        )

    def _fenced(self, held: LeaseLike) -> ColumnElement[bool]:
        lease = _lease(held)
        return (
            (jobs.c.id == lease.job_id)
            & (jobs.c.lease_token == lease.token)
            & (jobs.c.status == Status.RUNNING.value)
        )

    def heartbeat(self, held: LeaseLike, *, lease_seconds: float = 30.0) -> HeartbeatResult:
        """Extend the lease by ``lease_seconds`` from now and report whether a cancel was requested.

        ``alive`` False: the lease is lost; the worker must stop and drop its work.
        """
        stmt = (
            update(jobs)
            .where(self._fenced(held))
            .values(lease_expires_at=self._now + lease_seconds, heartbeat_at=self._now)
            .returning(jobs.c.cancel_requested)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return HeartbeatResult(alive=False, cancel_requested=False)
        return HeartbeatResult(alive=True, cancel_requested=bool(row[0]))

    def lease_state(self, held: LeaseLike) -> HeartbeatResult:
        """Like :meth:`heartbeat` but a read that extends nothing: cheap enough to poll for cancels."""
        with self._read() as conn:
            row = conn.execute(select(jobs.c.cancel_requested).where(self._fenced(held))).first()
        if row is None:
            return HeartbeatResult(alive=False, cancel_requested=False)
        return HeartbeatResult(alive=True, cancel_requested=bool(row[0]))

    def report_progress(self, held: LeaseLike, progress: int) -> bool:
        """Record progress (clamped to 0-100; never lowered). False if the lease is lost."""
        value = literal(max(0, min(100, int(progress))))
        stmt = (
            update(jobs)
            .where(self._fenced(held))
            # CASE, not GREATEST: SQLite has no GREATEST, and this keeps one code path.
            .values(progress=case((jobs.c.progress < value, value), else_=jobs.c.progress))
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0

    def complete(
        self,
        held: LeaseLike,
        *,
        result: dict[str, Any],
        outputs: list[dict[str, Any]],
        engine: str | None = None,
    ) -> bool:
        """Finish the job: completed, ``result`` stored, output rows inserted, ``on_end`` called.

        All in one transaction, and only if the lease still holds; otherwise
        nothing is written and the answer is False. Each output dict holds the
        ``outputs`` columns (``kind``, ``storage_key``, ``content_type``,
        ``bytes``, ``width``, ``height``, optionally ``fps``, ``duration``,
        ``has_audio``, ``id``). ``engine`` names the engine that made it
        (stored in ``jobs.engine``).
        """
        lease = _lease(held)

        def write_outputs(conn: Connection) -> None:
            for output in outputs:
                row = {"id": new_id("out"), **output, "job_id": lease.job_id}
                conn.execute(insert(outputs_table).values(**row, created_at=self._now))

        values: dict[str, Any] = {"progress": 100, "result": result}
        if engine is not None:
            values["engine"] = engine
        return self._finish(lease, Event.COMPLETE, values, write_outputs)

    def fail(self, held: LeaseLike, *, code: str, message: str) -> bool:
        """End the job failed with ``code``/``message`` if the lease holds."""
        return self._finish(_lease(held), Event.FAIL, {"error_code": code, "error_message": message})

    def acknowledge_cancel(self, held: LeaseLike) -> bool:
        """End a running job whose cancel was requested as cancelled, if the lease holds."""
        return self._finish(_lease(held), Event.CANCEL_ACK, {}, None, jobs.c.cancel_requested.is_(True))

    def _finish(
        self,
        lease: Lease,
        event: Event,
        values: dict[str, Any],
        write_more: Callable[[Connection], None] | None = None,
        *conditions: ColumnElement[bool],
    ) -> bool:
        t = transition(event)
        stmt = (
            update(jobs)
            .where(self._fenced(lease), jobs.c.status == t.source.value, *conditions)
            # worker_id stays: it says who produced the result.
            .values(status=t.target.value, completed_at=self._now, lease_expires_at=None, **values)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 0:
                return False
            if write_more is not None:
                write_more(conn)
            self._ended(conn, lease.job_id, t.target)
        return True

    def _ended(self, conn: Connection, job_id: str, status: Status) -> None:
        if self._on_end is not None:
            self._on_end(conn, job_id, status)

    def release(self, held: LeaseLike) -> bool:
        """Give the job back on shutdown: queued again, this attempt not counted.

        A job whose cancel was requested ends cancelled instead (and ``on_end``
        is called). False if the lease was already lost.
        """
        requeue, ack = transition(Event.RELEASE), transition(Event.CANCEL_ACK)
        cancel = jobs.c.cancel_requested.is_(True)
        stmt = (
            update(jobs)
            .where(self._fenced(held))
            .values(
                status=case((cancel, ack.target.value), else_=requeue.target.value),
                attempt=case((cancel, jobs.c.attempt), else_=jobs.c.attempt - 1),
                completed_at=case((cancel, self._now), else_=null()),
                worker_id=case((cancel, jobs.c.worker_id), else_=null()),
                heartbeat_at=case((cancel, jobs.c.heartbeat_at), else_=null()),
                lease_expires_at=None,
            )
            .returning(jobs.c.status)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return False
            if row[0] == Status.CANCELLED.value:
                self._ended(conn, _lease(held).job_id, Status.CANCELLED)
            else:
                announce(conn, JOBS_CHANNEL)
        if row[0] == Status.QUEUED.value:
            self._work.set()
        return True

    # -- the owner's side ------------------------------------------------

    def request_cancel(self, account_id: str, job_id: str) -> Job:
        """Cancel the account's job: a queued one at once, a running one at its engine's next step.

        Returns the job after the change (for a running job: still running with
        ``cancel_requested``). A queued job ends here (``on_end`` is called).
        Raises :class:`NotFound` for a job that is missing or another account's,
        :class:`Conflict` for an ended job.
        """
        # On PostgreSQL a claim or requeue can slip in between the read and the
        # conditional update; then the update changes nothing and we look again.
        for _ in range(10):
            with self.engine.begin() as conn:
                job = queries.get_job(conn, job_id, account_id)
                if job.status is Status.QUEUED:
                    t = transition(Event.CANCEL)
                    stmt = update(jobs).values(status=t.target.value, completed_at=self._now)
                elif job.status is Status.RUNNING:
                    stmt = update(jobs).values(cancel_requested=True)
                else:
                    raise Conflict(
                        "job_not_cancellable",
                        f"job {job_id} is already {job.status}; only queued or running jobs can be cancelled",
                        None,
                    )
                row = conn.execute(
                    stmt.where(jobs.c.id == job_id, jobs.c.status == job.status.value).returning(*jobs.c)
                ).first()
                if row is not None:
                    job = Job.from_row(row)
                    if job.status is Status.CANCELLED:
                        self._ended(conn, job.id, Status.CANCELLED)
                    else:  # its worker hears of it at once on PostgreSQL (else at its next look)
                        announce(conn, CANCEL_CHANNEL, job.id)
                    return job
        raise RuntimeError(f"job {job_id} kept changing status while being cancelled")

    # -- the operator's side ---------------------------------------------

    def reap_expired(self, *, max_attempts: int = 3) -> ReapResult:
        """Take back every running job whose lease lapsed, in one transaction.

        A job whose cancel was requested ends cancelled; one that has used
        ``max_attempts`` attempts ends failed (``worker_lost``, a poison job);
        any other is queued again (its ``lease_token`` is kept, so the old
        worker's writes stay fenced out). Safe with several reapers: each row
        moves only while still running and expired. ``on_end`` is called for
        each job that ended, in the same transaction.
        """
        requeue, poison, ack = transition(Event.REQUEUE), transition(Event.POISON), transition(Event.CANCEL_ACK)
        cancel = jobs.c.cancel_requested.is_(True)
        poisoned = ~cancel & (jobs.c.attempt >= max_attempts)
        ended = cancel | (jobs.c.attempt >= max_attempts)
        message = (
            f"the worker running this job stopped responding (its lease expired) and the job has used "
            f"all {max_attempts} attempts; it will not be retried"
        )
        stmt = (
            update(jobs)
            .where(jobs.c.status == requeue.source.value, jobs.c.lease_expires_at < self._now)
            .values(
                status=case((cancel, ack.target.value), (poisoned, poison.target.value), else_=requeue.target.value),
                completed_at=case((ended, self._now), else_=null()),
                error_code=case((poisoned, POISON_CODE), else_=jobs.c.error_code),
                error_message=case((poisoned, message), else_=jobs.c.error_message),
                worker_id=case((ended, jobs.c.worker_id), else_=null()),
                heartbeat_at=case((ended, jobs.c.heartbeat_at), else_=null()),
                lease_expires_at=None,
            )
            .returning(jobs.c.id, jobs.c.status)
        )
        result = ReapResult()
        by_status = {Status.QUEUED: result.requeued, Status.FAILED: result.failed, Status.CANCELLED: result.cancelled}
        with self.engine.begin() as conn:
            for job_id, status in conn.execute(stmt).all():
                by_status[Status(status)].append(job_id)
                if status != Status.QUEUED.value:
                    self._ended(conn, job_id, Status(status))
            if result.requeued:
                announce(conn, JOBS_CHANNEL)
        if result.requeued:
            self._work.set()
        return result

    # -- reads -----------------------------------------------------------

    def _read(self) -> Connection:
        # Read-only: on SQLite a plain BEGIN, so reads never wait for the write lock.
        return self.engine.connect().execution_options(readonly=True)

    def get(self, job_id: str, account_id: str | None = None) -> Job:
        """The job; :class:`NotFound` if missing or (with ``account_id``) another account's."""
        with self._read() as conn:
            return queries.get_job(conn, job_id, account_id)

    def view(self, job_id: str, account_id: str | None = None) -> JobView:
        """The job with its queue position, usage and outputs; :class:`NotFound` as :meth:`get`."""
        with self._read() as conn:
            return views.read_views(conn, [queries.get_job(conn, job_id, account_id)])[0]

    def views(self, job_list: Sequence[Job]) -> list[JobView]:
        """Views of ``job_list`` (a page of jobs) in one read, in a fixed number of queries."""
        if not job_list:
            return []
        with self._read() as conn:
            return views.read_views(conn, job_list)

    def get_for_key(self, job_id: str, key_hash: str) -> PolledJob | None:
        """The job if a live key with ``key_hash`` owns it, with its queue position,
        in one query (see :mod:`happyhorse.jobs.polling`)."""
        return polling.poll_job(self.engine, job_id, key_hash)

    def list_jobs(
        self, account_id: str, *, limit: int = 20, after: str | None = None, newest_first: bool = True
    ) -> tuple[list[Job], bool]:
        """A page of the account's jobs, newest first unless not ``newest_first``, and whether more follow
        (see ``queries.list_jobs``)."""
        with self._read() as conn:
            return queries.list_jobs(conn, account_id, limit=limit, after=after, newest_first=newest_first)

    def queue_position(self, job: Job) -> int | None:
        """1-based place of a queued job in the claim order; None if ``job`` is not queued."""
        return self.queue_positions([job]).get(job.id)

    def queue_positions(self, job_list: Iterable[Job]) -> dict[str, int]:
        """Queue positions of the queued jobs among ``job_list``, in one query."""
        queued = [j for j in job_list if j.status is Status.QUEUED]
        if not queued:
            return {}
        with self._read() as conn:
            return queries.queue_positions(conn, queued)

    def outputs_for(self, job_id: str) -> list[dict[str, Any]]:
        """The job's output rows, as dicts of every column."""
        with self._read() as conn:
            return queries.outputs_for(conn, job_id)

    def count_by_status(self) -> dict[Status, int]:
        """Jobs per status, every status present (for metrics)."""
        with self._read() as conn:
            return queries.count_by_status(conn)
