"""The queue as the database sees it, read at scrape time: jobs by status, depth, oldest wait, workers.

One short read transaction per scrape, run by the API process only (so N
workers do not multiply the reads). A database that is away yields no queue
samples and one ``happyhorse_database_errors_total{process="api"}``; the
scraper never sees an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import jobs, workers
from happyhorse.jobs.status import Status
from happyhorse.metrics.names import JOBS, QUEUE_DEPTH, QUEUE_OLDEST_AGE, WORKERS

log = logging.getLogger("happyhorse.metrics")

_HELP = {
    JOBS: "Jobs in each status (deleted jobs left out), read from the database at scrape time",
    QUEUE_DEPTH: "Queued jobs, read from the database at scrape time",
    QUEUE_OLDEST_AGE: "Age of the oldest queued job by the database clock (0 with none queued)",
    WORKERS: "Workers seen within worker_seen_seconds (the worker registry), read at scrape time",
}


@dataclass(frozen=True)
class QueueSnapshot:
    by_status: dict[str, int]
    depth: int
    oldest_age_seconds: float
    workers: int


def read_queue(db: Engine, worker_seen_seconds: float) -> QueueSnapshot:
    """The queue's numbers, read in one short read-only transaction."""
    now = db_now(db.dialect.name)
    live = jobs.c.deleted_at.is_(None)
    queued = live & (jobs.c.status == Status.QUEUED.value)
    with db.connect().execution_options(readonly=True) as conn, conn.begin():
        by_status = {status.value: 0 for status in Status}
        for status, count in conn.execute(select(jobs.c.status, func.count()).where(live).group_by(jobs.c.status)):
            by_status[str(status)] = int(count)
        depth, oldest = conn.execute(select(func.count(), now - func.min(jobs.c.created_at)).where(queued)).one()
        seen = conn.execute(
            select(func.count()).select_from(workers).where(workers.c.last_seen_at >= now - worker_seen_seconds)
        ).scalar_one()
    return QueueSnapshot(by_status=by_status, depth=int(depth), oldest_age_seconds=max(0.0, float(oldest or 0.0)),
                         workers=int(seen))


class QueueCollector(Collector):
    """The scrape-time queue gauges of one database; ``on_error()`` is called when it cannot be read."""

    def __init__(self, db: Engine, *, worker_seen_seconds: float, on_error: Callable[[], None]) -> None:
        self.db = db
        self.worker_seen_seconds = worker_seen_seconds
        self.on_error = on_error

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return _families()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            snapshot = read_queue(self.db, self.worker_seen_seconds)
        except Exception as exc:  # a scrape must never fail: the gauges are left out, the error counted
            log.warning("metrics: could not read the queue from the database: %s", type(exc).__name__)
            self.on_error()
            return []
        families = _families()
        jobs_family, depth, oldest, seen = families
        for status, count in snapshot.by_status.items():
            jobs_family.add_metric([status], count)
        depth.add_metric([], snapshot.depth)
        oldest.add_metric([], snapshot.oldest_age_seconds)
        seen.add_metric([], snapshot.workers)
        return families


def _families() -> list[GaugeMetricFamily]:
    return [GaugeMetricFamily(JOBS, _HELP[JOBS], labels=["status"]),
            GaugeMetricFamily(QUEUE_DEPTH, _HELP[QUEUE_DEPTH]),
            GaugeMetricFamily(QUEUE_OLDEST_AGE, _HELP[QUEUE_OLDEST_AGE]),
            GaugeMetricFamily(WORKERS, _HELP[WORKERS])]
