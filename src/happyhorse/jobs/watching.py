"""The reads behind event streams: many watched jobs and their keys, in one read transaction.

The shared stream poller (:mod:`happyhorse.api.streams`) calls
:func:`read_watched` once per tick for every stream open in its process,
instead of each stream reading its own job: one query for the jobs (with their
queue positions and captured usage), one for the outputs of those that have
completed, one for which of the streams' keys are still live.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, or_, select
from sqlalchemy.engine import Engine

from happyhorse.billing.usage import Usage
from happyhorse.db.clock import db_now
from happyhorse.db.schema import api_keys, holds, jobs, web_sessions
from happyhorse.jobs.model import Job
from happyhorse.jobs.queries import queued_before
from happyhorse.jobs.status import Status
from happyhorse.jobs.views import JobView, outputs_by_job

# Bound parameters per IN list: well under every driver's limit (SQLite's is 32,766).
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class JobSnapshot(JobView):
    """A job as one tick read it, with what presenting it needs from other tables."""

    @property
    def state(self) -> tuple[str, int, int | None]:
        """What a stream sends an event for when it changes."""
        return snapshot_state(self.job.status.value, self.job.progress, self.queue_position)


def snapshot_state(status: str, progress: int, queue_position: int | None) -> tuple[str, int, int | None]:
    return (status, progress, queue_position if status == Status.QUEUED.value else None)


@dataclass(frozen=True, slots=True)
class Watched:
    jobs: dict[str, JobSnapshot]
    """The watched jobs that exist, by id."""
    live_keys: set[str]
    """The hashes, among those asked about, of keys that still work: not revoked, and not the key of
    a dashboard session that was signed out or has expired."""


def read_watched(engine: Engine, job_ids: Collection[str], key_hashes: Collection[str]) -> Watched:
    """The jobs ``job_ids`` and which of ``key_hashes`` are live, in one read-only transaction."""
    found: dict[str, JobSnapshot] = {}
    live: set[str] = set()
    with engine.connect().execution_options(readonly=True) as conn:
        now = db_now(conn.dialect.name)
        for chunk in _chunks(job_ids):
            for row in conn.execute(_JOBS, {"ids": chunk}):
                snapshot = _snapshot(row._mapping)
                found[snapshot.job.id] = snapshot
        completed = [job_id for job_id, s in found.items() if s.job.status is Status.COMPLETED]
        for chunk in _chunks(completed):
            for job_id, stored in outputs_by_job(conn, chunk).items():
                found[job_id] = replace(found[job_id], outputs=stored)
        for chunk in _chunks(key_hashes):
            live.update(conn.execute(_live_keys(now), {"hashes": chunk}).scalars())
    return Watched(found, live)


def _jobs_query() -> Any:
    ahead = jobs.alias("ahead")
    count_ahead = (
        select(func.count()).select_from(ahead)
        .where(queued_before(ahead, jobs.c.priority, jobs.c.created_at, jobs.c.id))
        .scalar_subquery()
    )
    captured = and_(holds.c.job_id == jobs.c.id, holds.c.state == "captured")
    return (
        select(
            jobs,
            case((jobs.c.status == Status.QUEUED.value, count_ahead), else_=None).label("watch_ahead"),
            holds.c.billed_seconds.label("watch_billed_seconds"),
            holds.c.unit_price.label("watch_unit_price"),
            holds.c.amount.label("watch_cost"),
        )
        .select_from(jobs.outerjoin(holds, captured))
        .where(jobs.c.id.in_(bindparam("ids", expanding=True)))
    )


_JOBS = _jobs_query()


def _live_keys(now: Any) -> Any:
    ended_session = exists().where(
        web_sessions.c.api_key_id == api_keys.c.id,
        or_(web_sessions.c.ended_at.is_not(None), web_sessions.c.expires_at <= now),
    )
    return select(api_keys.c.key_hash).where(
        api_keys.c.key_hash.in_(bindparam("hashes", expanding=True)),
        api_keys.c.revoked_at.is_(None),
        ~ended_session,
    )


def _snapshot(values: Any) -> JobSnapshot:
    ahead = values["watch_ahead"]
    cost = values["watch_cost"]
    return JobSnapshot(
        job=Job.from_row(values),
        queue_position=None if ahead is None else int(ahead) + 1,
        usage=None if cost is None else Usage.from_columns(
            values["watch_billed_seconds"], values["watch_unit_price"], cost
        ),
    )


def _chunks(values: Collection[str]) -> Iterator[list[str]]:
    ordered = list(values)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start:start + _CHUNK]
