"""The two stages beside the GPU's thread that keep the GPU busy: intake and finisher.

A worker's loop thread is the GPU's: it only runs the engine. Around it:

- :class:`Intake` claims the next job and loads its inputs on its own thread
  once the engine reports the current job nearly done, so the next job is
  ready when the GPU frees (never earlier: a job claimed long before it can
  start would wait here while another worker could have run it);
- :class:`Finisher` encodes, stores and writes one job's end on its own
  thread while the GPU generates the next.

So at most :data:`MOST_JOBS_HELD` jobs are held: one claimed ahead, one
generating, one finishing; each has its own lease watcher
(:class:`~happyhorse.worker.active.ActiveJob`). A worker that dies takes that
many attempts down with it: the reaper gives each job back to the queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from happyhorse.logs import in_context
from happyhorse.worker.active import ActiveJob
from happyhorse.worker.outcome import Ending
from happyhorse.worker.run import Generated

log = logging.getLogger("happyhorse.worker")

MOST_JOBS_HELD = 3
CLAIM_AHEAD_AT = 0.75
"""The engine's progress at which the next job is claimed and its inputs loaded
(for ``ltx2``'s 8 distilled steps: after the 7th, about one step ahead)."""


class Intake:
    """Claims jobs: ahead, on its own thread, when asked by :meth:`claim_ahead`; else on demand."""

    def __init__(self, claim: Callable[[], ActiveJob | None]) -> None:
        self._claim = claim
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="intake")
        self._lock = threading.Lock()
        self._ahead: Future[ActiveJob | None] | None = None

    def claim_ahead(self) -> None:
        """Start claiming the next job now, unless that is already under way (any thread may call)."""
        with self._lock:
            if self._ahead is None:
                self._ahead = self._executor.submit(in_context(self._claim))

    def next(self) -> ActiveJob | None:
        """The job claimed ahead (waiting for its claim to finish), or one claimed now; ``None`` if the
        queue has nothing this worker may start. Raises what the claim raised (a database outage)."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        return ahead.result() if ahead is not None else self._claim()

    def close(self) -> ActiveJob | None:
        """Stop; returns a job claimed ahead that nobody took (to be given back to the queue)."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        self._executor.shutdown(wait=True)
        if ahead is None or ahead.exception() is not None:
            return None
        return ahead.result()


class Finisher:
    """One job at a time encoded, stored and ended on the finisher's thread."""

    def __init__(self, finish: Callable[[ActiveJob, Generated], Ending]) -> None:
        self._finish = finish
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="finisher")
        self._current: Future[Ending] | None = None

    def hand_over(self, job: ActiveJob, generated: Generated) -> None:
        """Finish ``job`` on the finisher's thread, once the job before it is finished."""
        self.wait()
        self._current = self._executor.submit(in_context(self._finish_safely), job, generated)

    def wait(self) -> Ending | None:
        """Wait until the finisher is free; returns how its last job ended."""
        current = self._current
        return current.result() if current is not None else None

    def close(self) -> None:
        self.wait()
        self._executor.shutdown(wait=True)

    def _finish_safely(self, job: ActiveJob, generated: Generated) -> Ending:
        try:
            return self._finish(job, generated)
        except Exception:
            # The machine's fault (a storage or database outage), not the job's: let the
            # lease lapse, and the reaper gives the job to another worker (or to this one).
            log.exception("job %s: could not be finished; its lease will lapse and the job be retried", job.id)
            job.drop()
            return Ending.LOST
