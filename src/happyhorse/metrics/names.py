"""The metrics' names and label values: the interface dashboards and alerts are written against.

Never rename one (``deploy/`` and ``docs/operations.md`` use them). :data:`METRIC_NAMES`
holds each family's name as the exposition text writes it: a counter declared
``happyhorse_http_requests`` is exposed as ``happyhorse_http_requests_total``.
"""

from __future__ import annotations

# -- every API process (`happyhorse api`, `serve`) ---------------------------
HTTP_REQUESTS = "happyhorse_http_requests"
"""Counter ``{route, method, status}``: route is the matched path template, ``other`` when none matched."""
HTTP_REQUEST_DURATION = "happyhorse_http_request_duration_seconds"
"""Histogram ``{route, method}``."""
DATABASE_ERRORS = "happyhorse_database_errors"
"""Counter ``{process}``: ``api`` (each 503 ``database_unavailable``, each failed scrape-time read),
``worker`` (the work loop), ``webhooks`` (the delivery loop)."""
JOBS = "happyhorse_jobs"
"""Gauge ``{status}``, read from the database at scrape time (deleted jobs left out)."""
QUEUE_DEPTH = "happyhorse_queue_depth"
QUEUE_OLDEST_AGE = "happyhorse_queue_oldest_age_seconds"
WORKERS = "happyhorse_workers"

# -- every worker process (`happyhorse worker`, serve's worker) ---------------
JOB_PHASE = "happyhorse_job_phase_seconds"
"""Histogram ``{phase, engine, resolution}``, phase one of :data:`PHASES`."""
JOBS_FINISHED = "happyhorse_jobs_finished"
"""Counter ``{engine, outcome}``, outcome one of :data:`JOB_OUTCOMES`."""
ENGINE_SPEED = "happyhorse_engine_seconds_per_output_second"
"""Histogram ``{engine, resolution}``."""
WORKER_BUSY = "happyhorse_worker_busy_ratio"
"""Gauge ``{worker_id}``, computed at scrape time."""
WEBHOOK_DELIVERIES = "happyhorse_webhook_deliveries"
"""Counter ``{outcome}``, outcome one of :data:`WEBHOOK_OUTCOMES`."""

PHASES = ("waiting", "inputs", "generate", "encode", "store", "finish")
JOB_OUTCOMES = ("completed", "failed", "cancelled", "released", "lost")
WEBHOOK_OUTCOMES = ("delivered", "retried", "failed", "disabled")
PROCESSES = ("api", "worker", "webhooks")

COUNTERS = (HTTP_REQUESTS, DATABASE_ERRORS, JOBS_FINISHED, WEBHOOK_DELIVERIES)
HISTOGRAMS = (HTTP_REQUEST_DURATION, JOB_PHASE, ENGINE_SPEED)
GAUGES = (JOBS, QUEUE_DEPTH, QUEUE_OLDEST_AGE, WORKERS, WORKER_BUSY)

METRIC_NAMES: frozenset[str] = frozenset(
    {f"{name}_total" for name in COUNTERS} | set(HISTOGRAMS) | set(GAUGES)
)
"""Every family as the exposition text names it (``# TYPE <name> ...``)."""
