"""Expected seconds until a job completes (``eta_seconds``, SPEC §11), from measured speed.

Speed is measured, never assumed: the last :data:`HISTORY` completed jobs' run
times (``completed_at - started_at``, both by the database clock) divided by
their output seconds, per resolution. With no completed job of a resolution
there is no estimate (``None``).

- A running job: its expected run time (speed × duration) minus the time it has
  run; ``None`` once overdue (no honest number is left), never negative.
- A queued job at position *p*: the jobs ahead, ``p - 1``, each taking the
  typical recent run time, shared among the workers seen recently (at least
  one), plus its own expected run time. Fair claims across accounts make this
  an estimate, not a promise.

One read of the history every :data:`CACHE_SECONDS` per process.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from happyhorse.db.schema import jobs
from happyhorse.jobs.model import Job
from happyhorse.jobs.request import JobRequest
from happyhorse.jobs.status import Status

HISTORY = 200
"""How many recent completed jobs the speed is measured on."""
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Speed:
    """Measured speed: seconds of run time per output second, by resolution, and a typical job's run time."""

    per_output_second: dict[str, float]
    typical_job_seconds: float | None
    workers: int

    def expected_run(self, request: JobRequest | None = None, *, resolution: str = "", duration: int = 0) -> float | None:
        resolution = request.resolution if request is not None else resolution
        duration = request.duration if request is not None else duration
        rate = self.per_output_second.get(resolution)
        return None if rate is None else rate * duration

    def queued_eta(self, position: int, resolution: str, duration: int) -> int | None:
        """Seconds until a job at ``position`` (1-based) completes."""
        own = self.expected_run(resolution=resolution, duration=duration)
        if own is None or self.typical_job_seconds is None:
            return None
        ahead = max(position - 1, 0) * self.typical_job_seconds / max(self.workers, 1)
        return math.ceil(ahead + own)

    def eta(self, job: Job, queue_position: int | None, now: float) -> int | None:
        """``eta_seconds`` of ``job``: None once it ended or when there is no history."""
        if job.status is Status.QUEUED:
            return self.queued_eta(queue_position or 1, job.request.resolution, job.request.duration)
        if job.status is Status.RUNNING:
            expected = self.expected_run(job.request)
            if expected is None or job.started_at is None:
                return None
            left = expected - (now - job.started_at)
            return math.ceil(left) if left > 0 else None
        return None


class SpeedMeter:
    """Reads :class:`Speed` from the database, at most once per :data:`CACHE_SECONDS`. Thread-safe."""

    def __init__(self, engine: Engine, workers_seen: callable) -> None:  # type: ignore[valid-type]
        self.engine = engine
        self._workers_seen = workers_seen
        self._lock = threading.Lock()
        self._cached: tuple[float, Speed] | None = None

    def speed(self) -> Speed:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
        speed = self._measure()
        with self._lock:
            self._cached = (time.monotonic(), speed)
        return speed

    def _measure(self) -> Speed:
        query = (
            select(jobs.c.started_at, jobs.c.completed_at, jobs.c.request)
            .where(jobs.c.status == Status.COMPLETED.value, jobs.c.started_at.is_not(None),
                   jobs.c.completed_at.is_not(None))
            .order_by(jobs.c.completed_at.desc())
            .limit(HISTORY)
        )
        with self.engine.connect().execution_options(readonly=True) as conn:
            rows = conn.execute(query).all()
        rates: dict[str, list[float]] = {}
        runs: list[float] = []
        for started_at, completed_at, request in rows:
            run = max(float(completed_at) - float(started_at), 0.0)
            duration = int((request or {}).get("duration") or 0)
            if duration <= 0:
                continue
            runs.append(run)
            rates.setdefault(str(request.get("resolution")), []).append(run / duration)
        return Speed(
            per_output_second={resolution: statistics.median(values) for resolution, values in rates.items()},
            typical_job_seconds=statistics.median(runs) if runs else None,
            workers=self._workers_seen(),
        )
