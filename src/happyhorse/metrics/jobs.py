"""One job's timings on a worker: each phase observed as it ends, the job's ending counted once.

A :class:`JobTimer` travels with the job (:class:`~happyhorse.worker.active.ActiveJob`)
across the worker's threads: ``inputs`` on the intake's, ``generate`` on the GPU's,
``encode``/``store``/``finish`` on the finisher's. ``JobTimer(None, ...)`` times nothing
(a library caller without metrics).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from happyhorse.metrics.busy import BusyWindow
    from happyhorse.metrics.registry import Metrics


class JobTimer:
    """Observes ``happyhorse_job_phase_seconds``, ``happyhorse_jobs_finished_total`` and
    ``happyhorse_engine_seconds_per_output_second`` for one job (see :mod:`happyhorse.metrics.names`)."""

    def __init__(self, metrics: Metrics | None, *, engine: str, resolution: str,
                 busy: BusyWindow | None = None) -> None:
        self._metrics = metrics
        self._engine = engine
        self._resolution = resolution
        self._busy = busy
        self._ended = False
        self.generate_seconds = 0.0
        """Seconds spent in the engine's ``generate`` for this job."""

    def observe(self, phase: str, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.job_phase.labels(phase, self._engine, self._resolution).observe(max(0.0, seconds))

    @contextmanager
    def phase(self, phase: str) -> Iterator[None]:
        """Time the block as ``phase`` (observed even when it raises: the time was spent).
        ``generate`` also marks the worker busy for the block."""
        generating = phase == "generate" and self._busy is not None
        start = self._busy.begin() if generating else time.monotonic()  # type: ignore[union-attr]
        try:
            yield
        finally:
            end = self._busy.end() if generating else time.monotonic()  # type: ignore[union-attr]
            if phase == "generate":
                self.generate_seconds += end - start
            self.observe(phase, end - start)

    def ended(self, outcome: str, *, output_seconds: float = 0.0) -> None:
        """Count the job's ending (``completed``, ``failed``, ``cancelled``, ``released``, ``lost``) once;
        later calls do nothing. A completed job also gives its engine speed."""
        if self._ended:
            return
        self._ended = True
        if self._metrics is None:
            return
        self._metrics.jobs_finished.labels(self._engine, outcome).inc()
        if outcome == "completed" and output_seconds > 0:
            self._metrics.engine_speed.labels(self._engine, self._resolution).observe(
                self.generate_seconds / output_seconds)
