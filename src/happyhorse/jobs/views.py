"""A job with what showing it needs from other tables: its queue position, usage and outputs.

Every answer that shows a job (``GET /v1/jobs/{id}``, the list, submit, cancel,
event streams) presents a :class:`JobView`
(:func:`happyhorse.api.presenters.present_job`). A job's outputs live in one
place, the ``outputs`` rows written by its completing transaction; the
presenter and the storage sweep both read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from happyhorse.billing.holds import captured_usage
from happyhorse.billing.usage import Usage
from happyhorse.db.schema import outputs
from happyhorse.jobs import queries
from happyhorse.jobs.model import Job
from happyhorse.jobs.status import Status

VIDEO, POSTER = "video", "poster"


@dataclass(frozen=True, slots=True)
class VideoOutput:
    """One output video and its poster, as stored (``outputs`` rows of kind video and poster)."""

    storage_key: str
    poster_key: str
    content_type: str
    bytes: int
    width: int
    height: int
    fps: int | None
    duration: float | None
    has_audio: bool | None

    @classmethod
    def from_rows(cls, video: Mapping[str, Any], poster: Mapping[str, Any]) -> VideoOutput:
        """From a job's video row and poster row (any driver's types: SQLite gives 0/1 for booleans)."""
        has_audio = video["has_audio"]
        return cls(
            storage_key=video["storage_key"], poster_key=poster["storage_key"],
            content_type=video["content_type"], bytes=int(video["bytes"]), width=int(video["width"]),
            height=int(video["height"]), fps=None if video["fps"] is None else int(video["fps"]),
            duration=None if video["duration"] is None else float(video["duration"]),
            has_audio=None if has_audio is None else bool(has_audio),
        )


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as one read saw it, with its queue position (queued jobs), usage (from its
    captured hold: completed jobs) and outputs (completed jobs)."""

    job: Job
    queue_position: int | None = None
    usage: Usage | None = None
    outputs: tuple[VideoOutput, ...] = ()


def read_views(conn: Connection, job_list: Sequence[Job]) -> list[JobView]:
    """Views of ``job_list``, in order: at most three queries, whatever the number of jobs."""
    positions = queries.queue_positions(conn, job_list)
    completed = [job.id for job in job_list if job.status is Status.COMPLETED]
    usages = captured_usage(conn, completed)
    stored = outputs_by_job(conn, completed)
    return [
        JobView(job, positions.get(job.id), usages.get(job.id), stored.get(job.id, ())) for job in job_list
    ]


def outputs_by_job(conn: Connection, job_ids: Iterable[str]) -> dict[str, tuple[VideoOutput, ...]]:
    """The stored outputs of ``job_ids`` (those that have any), in one query."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows: dict[str, dict[str, Mapping[str, Any]]] = {}
    for row in conn.execute(select(outputs).where(outputs.c.job_id.in_(ids))):
        rows.setdefault(row.job_id, {})[row.kind] = row._mapping
    return {
        job_id: (VideoOutput.from_rows(kinds[VIDEO], kinds[POSTER]),)
        for job_id, kinds in rows.items() if VIDEO in kinds and POSTER in kinds
    }
