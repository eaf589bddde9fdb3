"""The worker inside ``happyhorse serve``: a :class:`Worker` in a background thread."""

from __future__ import annotations

import logging
import threading

from happyhorse.worker.loop import Worker

log = logging.getLogger("happyhorse.worker")


class WorkerThread:
    """Runs ``worker`` in a daemon thread; stops it with the worker's own two-phase shutdown."""

    def __init__(self, worker: Worker, *, grace_seconds: float) -> None:
        self.worker = worker
        self.grace_seconds = grace_seconds
        self._thread = threading.Thread(target=self._run, name="happyhorse-worker", daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run()
        except Exception:
            log.exception("worker crashed")

    def start(self) -> None:
        self._thread.start()

    def stop_and_join(self) -> None:
        """Stop claiming; give the running job the grace period, then put it back in the queue."""
        self.worker.shut_down(self.grace_seconds)
        self._thread.join()
