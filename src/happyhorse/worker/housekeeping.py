"""The worker's side task: reaping expired leases, sweeping orphaned files, and
keeping the worker's registration fresh.

It runs in its own thread, started and stopped with the worker, so a worker
busy on a ten-minute GPU job still takes back a dead worker's job within a
third of a lease period of its expiry, and still counts as registered
(:mod:`happyhorse.jobs.registry`) however long its job takes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from happyhorse.logs import in_context
from happyhorse.runtime import Runtime
from happyhorse.storage.sweep import OrphanSweeper

log = logging.getLogger("happyhorse.worker")

TICK_SECONDS = 0.5
"""How often the side thread looks whether a pass is due."""


class Housekeeping:
    """Reaps every ``lease_seconds / 3``; sweeps one bounded batch every ``storage_sweep_interval_seconds``;
    calls ``register`` (the worker's registration) every ``worker_seen_seconds / 3``."""

    def __init__(self, runtime: Runtime, *, register: Callable[[], None] | None = None) -> None:
        self.runtime = runtime
        self._register = register
        self._next_register = 0.0
        self._next_reap = 0.0
        self._sweeper: OrphanSweeper | None = None
        # Not at start: a worker that crashes and restarts in a loop should not sweep each time.
        self._next_sweep = time.monotonic() + runtime.settings.storage_sweep_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run :meth:`run_due` in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=in_context(self._loop), name="happyhorse-housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        failures = 0  # in a row: one traceback per streak (a database outage fails every tick)
        while not self._stop.is_set():
            try:
                self.run_due()
                failures = 0
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning("housekeeping pass failed; trying again every %.1fs", TICK_SECONDS, exc_info=True)
                else:
                    log.debug("housekeeping pass failed again: %s", exc)
            self._stop.wait(TICK_SECONDS)

    def run_due(self) -> None:
        """Reap, sweep and register, each if its time has come."""
        self.reap_if_due()
        self.sweep_if_due()
        self.register_if_due()

    def register_if_due(self) -> None:
        """Refresh the worker's registration, a few times per ``worker_seen_seconds``."""
        now = time.monotonic()
        if self._register is None or now < self._next_register:
            return
        # Before the call: a failing database is retried at the next due time, not every tick.
        self._next_register = now + self.runtime.settings.worker_seen_seconds / 3
        self._register()

    def reap_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_reap:
            return
        settings = self.runtime.settings
        self._next_reap = now + settings.lease_seconds / 3
        result = self.runtime.queue.reap_expired(max_attempts=settings.max_attempts)
        for name in ("requeued", "failed", "cancelled"):
            if getattr(result, name):
                log.warning("reaper %s expired jobs: %s", name, ", ".join(getattr(result, name)))

    def sweep_if_due(self) -> None:
        """Every ``storage_sweep_interval_seconds``, delete one bounded batch of orphaned files."""
        settings = self.runtime.settings
        now = time.monotonic()
        if settings.storage_sweep_interval_seconds <= 0 or now < self._next_sweep:
            return
        self._next_sweep = now + settings.storage_sweep_interval_seconds
        if self._sweeper is None:
            self._sweeper = OrphanSweeper(
                self.runtime.db, self.runtime.storage, grace_seconds=settings.storage_sweep_grace_seconds,
                upload_ttl_seconds=settings.upload_ttl_seconds,
            )
        try:
            report = self._sweeper.sweep_once()
        except Exception:
            # Housekeeping: a failed pass must not keep the worker from its jobs.
            log.warning("storage sweep failed; trying again in %.0fs", settings.storage_sweep_interval_seconds,
                        exc_info=True)
            return
        if report.deleted or report.debris or report.expired:
            log.info("storage sweep deleted %d orphaned files (%d bytes), %d expired uploads and %d leftovers "
                     "of unfinished writes", len(report.deleted), report.bytes_deleted, len(report.expired),
                     len(report.debris))
