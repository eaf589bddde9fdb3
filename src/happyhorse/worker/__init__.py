"""The worker: claim a job, generate it, finish it; the engine loaded once and kept busy.

Read in the order a job lives:

- :mod:`~happyhorse.worker.loop`: :class:`Worker`, the loop (claim → generate → finish),
  pipelined when the engine allows, its side task and its two-phase shutdown
  (stop, grace, abort);
- :mod:`~happyhorse.worker.pipeline`: the intake (the next job claimed and its inputs
  loaded ahead) and the finisher (encode, store, end, while the engine generates the next);
- :mod:`~happyhorse.worker.active`: a job while the worker holds it (context, lease
  watcher, work folder), from its claim to the write of its end;
- :mod:`~happyhorse.worker.lease`: the job's context for the engine, and the
  watcher that heartbeats the lease and notices cancellation or its loss;
- :mod:`~happyhorse.worker.inputs`: the job's input images;
- :mod:`~happyhorse.worker.run`: one job's run as numbered steps (inputs, spec,
  generate, encode, store), ending in an :class:`~happyhorse.worker.outcome.Outcome`;
- :mod:`~happyhorse.worker.outcome`: what a run came to, written to the queue and
  logged once by :func:`~happyhorse.worker.outcome.finish_job`;
- :mod:`~happyhorse.worker.housekeeping`: reaping expired leases, sweeping
  orphaned files and refreshing the worker's registration (its engine and the
  modes it serves, :mod:`happyhorse.jobs.registry`), in a side thread, so a long
  job never delays them;
- :mod:`~happyhorse.worker.thread`: :class:`WorkerThread`, the worker inside ``happyhorse serve``.
"""

from happyhorse.worker.loop import Worker
from happyhorse.worker.outcome import STORAGE_FULL_CODE, Outcome
from happyhorse.worker.thread import WorkerThread

__all__ = ["STORAGE_FULL_CODE", "Outcome", "Worker", "WorkerThread"]
