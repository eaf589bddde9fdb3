"""The worker's busy fraction: how much of the last minute its engine spent generating.

Each worker keeps a :class:`BusyWindow` of its ``generate`` intervals (the
engine's call, on the GPU's thread: they never overlap); :class:`BusyCollector`
turns every window into ``happyhorse_worker_busy_ratio{worker_id}`` at scrape
time, a generate still under way counted up to now.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from happyhorse.metrics.names import WORKER_BUSY

WINDOW_SECONDS = 60.0

_HELP = ("Fraction of the last 60 s this worker's engine spent generating (inside engine.generate: "
         "the GPU's part; a worker up for less than 60 s: of its uptime)")


class BusyWindow:
    """One worker's generate intervals over the last :data:`WINDOW_SECONDS`. Thread-safe."""

    def __init__(self, window_seconds: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_seconds = window_seconds
        self._clock = clock
        self._born = clock()
        self._lock = threading.Lock()
        self._intervals: deque[tuple[float, float]] = deque()
        self._since: float | None = None

    def begin(self) -> float:
        """The engine starts generating; returns the moment (for :meth:`end`)."""
        now = self._clock()
        with self._lock:
            self._since = now
        return now

    def end(self) -> float:
        """The engine stopped generating; returns the moment."""
        now = self._clock()
        with self._lock:
            if self._since is not None:
                self._intervals.append((self._since, now))
                self._since = None
            self._forget(now)
        return now

    def ratio(self) -> float:
        """Busy seconds in the window ÷ the window (or the time since this window began, if shorter)."""
        now = self._clock()
        start = now - self.window_seconds
        with self._lock:
            self._forget(now)
            intervals = list(self._intervals)
            if self._since is not None:
                intervals.append((self._since, now))
        busy = sum(max(0.0, end - max(begin, start)) for begin, end in intervals)
        span = min(self.window_seconds, now - self._born)
        return 0.0 if span <= 0 else min(1.0, busy / span)

    def _forget(self, now: float) -> None:
        while self._intervals and self._intervals[0][1] < now - self.window_seconds:
            self._intervals.popleft()


class BusyCollector(Collector):
    """``happyhorse_worker_busy_ratio`` of every worker of this process, by ``worker_id``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, BusyWindow] = {}

    def window(self, worker_id: str) -> BusyWindow:
        """The window of ``worker_id`` (made on first use, so a worker shows 0 from its start)."""
        with self._lock:
            return self._windows.setdefault(worker_id, BusyWindow())

    def forget(self, worker_id: str) -> None:
        with self._lock:
            self._windows.pop(worker_id, None)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily(WORKER_BUSY, _HELP, labels=["worker_id"])]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(WORKER_BUSY, _HELP, labels=["worker_id"])
        with self._lock:
            windows = sorted(self._windows.items())
        for worker_id, window in windows:
            family.add_metric([worker_id], window.ratio())
        return [family]
