"""One process's metrics: :class:`Metrics`, owned by its :class:`~happyhorse.runtime.Runtime`.

Each ``Metrics`` has its own registry, never prometheus_client's global one, so
the several servers a test starts in one process never see each other's counts.

Multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set in the environment
*before the process starts* (prometheus_client reads it at import), counters and
histograms are written to files in that directory, and every exposition of the
process (``/metrics``, ``--metrics-port``) serves the sum over all the processes
writing there (prometheus_client's ``MultiProcessCollector``), plus this process's
own scrape-time gauges (the queue's, for an API; the busy ratio of its workers).
One ``Metrics`` per process in that mode.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from happyhorse.metrics import names
from happyhorse.metrics.busy import BusyCollector

# No ``*_created`` series beside each counter and histogram: only the names of names.METRIC_NAMES appear.
disable_created_metrics()

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PHASE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
SPEED_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)

PHASE_HELP = (
    "Seconds each phase of a job took on a worker: waiting (submitted -> first claim, database clock), "
    "inputs (input images loaded and checked, engine spec), generate (engine.generate: a pipelined engine's "
    "whole GPU work; a streaming engine such as preview renders its frames while they are encoded, so in "
    "encode), encode (frames pulled from the engine, including a lazy VAE decode, into the MP4 and poster), "
    "store (video and poster put in storage, after encode), finish (the fenced write of the job's end)"
)


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` if prometheus_client runs in multiprocess mode in this process, else None
    (set after the import, the variable has no effect: values stay in memory and are served from there)."""
    import os

    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class Metrics:
    """The metrics of one process (see the module docstring); :attr:`exposition` is what is served."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        """Where the counters and histograms live."""
        r = self.registry
        self.http_requests = Counter(names.HTTP_REQUESTS, "HTTP requests answered, by route template "
                                     "(other: none matched), method and status", ["route", "method", "status"],
                                     registry=r)
        self.http_request_duration = Histogram(names.HTTP_REQUEST_DURATION, "Seconds from a request's arrival "
                                               "to the end of its answer", ["route", "method"],
                                               buckets=HTTP_BUCKETS, registry=r)
        self.database_errors = Counter(names.DATABASE_ERRORS, "Database unavailable errors: api (503 "
                                       "database_unavailable answers, failed scrape-time reads), worker (work "
                                       "loop), webhooks (delivery loop)", ["process"], registry=r)
        self.job_phase = Histogram(names.JOB_PHASE, PHASE_HELP, ["phase", "engine", "resolution"],
                                   buckets=PHASE_BUCKETS, registry=r)
        self.jobs_finished = Counter(names.JOBS_FINISHED, "Jobs a worker let go, by how: completed, failed, "
                                     "cancelled, released (back to the queue), lost (lease lost or end not "
                                     "written)", ["engine", "outcome"], registry=r)
        self.engine_speed = Histogram(names.ENGINE_SPEED, "Seconds of engine.generate per second of output "
                                      "video, per completed job", ["engine", "resolution"],
                                      buckets=SPEED_BUCKETS, registry=r)
        self.webhook_deliveries = Counter(names.WEBHOOK_DELIVERIES, "Webhook delivery attempts recorded, by "
                                          "outcome: delivered, retried (to be tried again), failed (given up), "
                                          "disabled (endpoint disabled or 410)", ["outcome"], registry=r)
        # Known label values start at 0, so that rate() and alerts see a series before its first event.
        for process in names.PROCESSES:
            self.database_errors.labels(process)
        for outcome in names.WEBHOOK_OUTCOMES:
            self.webhook_deliveries.labels(outcome)
        self.busy = BusyCollector()
        """Each worker's busy window (``happyhorse_worker_busy_ratio``)."""
        self.multiprocess_dir = multiprocess_dir()
        if self.multiprocess_dir is None:
            self.exposition = self.registry
        else:
            self.exposition = CollectorRegistry()
            MultiProcessCollector(self.exposition, path=self.multiprocess_dir)
        """The registry every exposition of this process serves."""
        self.exposition.register(self.busy)
        self._lock = threading.Lock()
        self._included: set[str] = set()

    def database_error(self, process: str) -> None:
        """Count one "database unavailable" error of ``process`` (``api``, ``worker`` or ``webhooks``)."""
        self.database_errors.labels(process).inc()

    def count_database_error(self, process: str, exc: BaseException) -> bool:
        """Count ``exc`` as a database error of ``process`` if it means the database is away (a loop's
        error may be another: a storage outage); whether it was counted."""
        from happyhorse.db.outage import caused_by_database_outage

        if not caused_by_database_outage(exc):
            return False
        self.database_error(process)
        return True

    def webhook_delivery(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def include(self, name: str, collector: Collector) -> None:
        """Serve ``collector`` too (scrape-time gauges); once per ``name``, whoever asks again."""
        with self._lock:
            if name in self._included:
                return
            self._included.add(name)
        self.exposition.register(collector)

    def watch_queue(self, db, worker_seen_seconds: float) -> None:  # type: ignore[no-untyped-def]
        """Serve the queue's gauges read from ``db`` at scrape time (an API process does)."""
        from happyhorse.metrics.queue import QueueCollector

        self.include("queue", QueueCollector(db, worker_seen_seconds=worker_seen_seconds,
                                             on_error=lambda: self.database_error("api")))
