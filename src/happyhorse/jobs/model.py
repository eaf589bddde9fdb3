"""Immutable views of job rows, and what a worker holds while it runs one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from happyhorse.jobs.request import JobRequest
from happyhorse.jobs.status import TERMINAL, Status


@dataclass(frozen=True, slots=True)
class Job:
    """One row of ``jobs``, as read at one moment. Times are epoch seconds (database clock)."""

    id: str
    account_id: str
    model: str
    engine: str | None
    status: Status
    request: JobRequest
    priority: int
    progress: int
    lease_token: int
    attempt: int
    worker_id: str | None
    lease_expires_at: float | None
    heartbeat_at: float | None
    cancel_requested: bool
    created_at: float
    started_at: float | None
    completed_at: float | None
    error_code: str | None
    error_message: str | None
    result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        """Build from a SQLAlchemy ``Row`` (or any mapping) holding every ``jobs`` column."""
        data: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
        values = {name: data[name] for name in _JOB_FIELDS}
        values["status"] = Status(values["status"])
        values["request"] = JobRequest.from_json(_json(values["request"]))
        values["result"] = _json(values["result"])
        # SQLite hands booleans back as 0/1 when read through text() or raw SQL.
        values["cancel_requested"] = bool(values["cancel_requested"])
        return cls(**values)

    @property
    def is_terminal(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.status in TERMINAL


_JOB_FIELDS = tuple(f.name for f in fields(Job))  # computed once: from_row is on the polling path


def _json(value: Any) -> Any:
    # The JSON column type decodes already; raw SQL on SQLite returns text.
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's right to write one job: valid while the row's ``lease_token`` equals ``token``."""

    job_id: str
    token: int
    worker_id: str


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job just claimed, with the lease every later write must carry."""

    job: Job
    lease: Lease

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def lease_token(self) -> int:
        return self.lease.token

    @property
    def worker_id(self) -> str:
        return self.lease.worker_id


class HeartbeatResult(NamedTuple):
    """``alive`` False: the lease is gone (another worker has the job); stop and drop the work.

    A named tuple, so ``alive, cancel_requested = ...`` works too.
    """

    alive: bool
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class ReapResult:
    """The ids of the jobs one reaper pass moved, by what happened to them."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
