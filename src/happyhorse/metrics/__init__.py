"""Prometheus metrics: what one process counts, times and reads, and how it is served.

- :mod:`~happyhorse.metrics.names`: every name and label value (:data:`METRIC_NAMES`);
- :mod:`~happyhorse.metrics.registry`: :class:`Metrics`, one per process (its
  :class:`~happyhorse.runtime.Runtime` owns it), multiprocess mode;
- :mod:`~happyhorse.metrics.http`: :class:`HttpMetrics`, the API's ASGI middleware;
- :mod:`~happyhorse.metrics.queue`: the queue's gauges, read from the database at scrape time;
- :mod:`~happyhorse.metrics.jobs`: :class:`JobTimer`, one job's phases on a worker;
- :mod:`~happyhorse.metrics.busy`: each worker's busy fraction over the last minute;
- :mod:`~happyhorse.metrics.exposition`: ``GET /metrics`` (token) and ``--metrics-port``.
"""

from happyhorse.metrics.exposition import MetricsServer, metrics_route, render, start_metrics_server
from happyhorse.metrics.jobs import JobTimer
from happyhorse.metrics.names import METRIC_NAMES
from happyhorse.metrics.registry import Metrics

__all__ = ["JobTimer", "METRIC_NAMES", "Metrics", "MetricsServer", "metrics_route", "render",
           "start_metrics_server"]
