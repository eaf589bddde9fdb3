"""Reads of job rows, each on a connection the caller provides.

:class:`happyhorse.jobs.queue.JobQueue` wraps these in read-only connections;
they are also usable inside a write transaction (``request_cancel`` does).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import ScalarSelect

from happyhorse.db.schema import jobs, outputs
from happyhorse.errors import NotFound
from happyhorse.jobs.model import Job
from happyhorse.jobs.status import Status


def job_not_found(job_id: str) -> NotFound:
    """The one answer for a job that does not exist *or* belongs to someone else."""
    return NotFound("job_not_found", f"no job {job_id!r} for this account; check the job_id", "job_id")


def get_job(conn: Connection, job_id: str, account_id: str | None = None) -> Job:
    """The job, or :class:`NotFound` if missing or (when ``account_id`` is given) not that account's."""
    query = select(jobs).where(jobs.c.id == job_id)
    if account_id is not None:
        # A deleted job is gone for its account; workers and the operator (no account) still see the row.
        query = query.where(jobs.c.account_id == account_id, jobs.c.deleted_at.is_(None))
    row = conn.execute(query).first()
    if row is None:
        raise job_not_found(job_id)
    return Job.from_row(row)


def list_jobs(
    conn: Connection, account_id: str, *, limit: int, after: str | None, newest_first: bool = True
) -> tuple[list[Job], bool]:
    """One page of the account's jobs, newest first (or oldest first), and whether more follow.

    ``after`` is the last id of the previous page: ids are time-ordered, so the
    next page is the ids below it (above it, oldest first): a stable cursor, unlike an offset.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = select(jobs).where(jobs.c.account_id == account_id, jobs.c.deleted_at.is_(None))
    if after is not None:
        query = query.where(jobs.c.id < after if newest_first else jobs.c.id > after)
    order = jobs.c.id.desc() if newest_first else jobs.c.id.asc()
    rows = conn.execute(query.order_by(order).limit(limit + 1)).all()
    return [Job.from_row(r) for r in rows[:limit]], len(rows) > limit


def claim_order(rows: Any) -> tuple[ColumnElement[Any], ...]:
    """The order a worker takes an account's queued jobs in, and queue positions count in:
    lower ``priority`` first, then first come, first served (``created_at``, then ``id``).
    :func:`queued_before` spells the same order as a condition; the polling SQL
    (:mod:`happyhorse.jobs.polling`) is rendered from it."""
    return (rows.c.priority, rows.c.created_at, rows.c.id)


def queued_before(rows: Any, priority: Any, created_at: Any, job_id: Any) -> ColumnElement[bool]:
    """Queued rows of ``rows`` (``jobs`` or an alias of it) before ``(priority, created_at, job_id)``
    in :func:`claim_order` (claims also take turns across accounts, see
    :mod:`happyhorse.jobs.fairness`, which positions do not yet reflect)."""
    # Spelled out rather than a row-value comparison so both planners use
    # ix_jobs_status_priority_created for the leading columns.
    return and_(
        rows.c.status == Status.QUEUED.value,
        or_(
            rows.c.priority < priority,
            and_(rows.c.priority == priority, rows.c.created_at < created_at),
            and_(rows.c.priority == priority, rows.c.created_at == created_at, rows.c.id < job_id),
        ),
    )


def _ahead_of(job: Job) -> ColumnElement[bool]:
    return queued_before(jobs, literal(job.priority), literal(job.created_at), literal(job.id))


def _count_ahead(job: Job) -> ScalarSelect[Any]:
    return select(func.count()).select_from(jobs).where(_ahead_of(job)).scalar_subquery()


def queue_positions(conn: Connection, job_list: Iterable[Job]) -> dict[str, int]:
    """1-based queue positions of the queued jobs among ``job_list``, in one query.

    Jobs that are not queued (in the given snapshot) are left out of the result.
    """
    queued = [j for j in job_list if j.status is Status.QUEUED]
    if not queued:
        return {}
    counts = conn.execute(select(*(_count_ahead(j).label(f"p{n}") for n, j in enumerate(queued)))).one()
    return {job.id: int(count) + 1 for job, count in zip(queued, counts, strict=True)}


def outputs_for(conn: Connection, job_id: str) -> list[dict[str, Any]]:
    """The job's output rows (every column), in creation order."""
    rows = conn.execute(select(outputs).where(outputs.c.job_id == job_id).order_by(outputs.c.id)).all()
    return [dict(r._mapping) for r in rows]


def count_by_status(conn: Connection) -> dict[Status, int]:
    """How many jobs are in each status; every status is present, zero included."""
    counts = {status: 0 for status in Status}
    for status, count in conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)):
        counts[Status(status)] = int(count)
    return counts
