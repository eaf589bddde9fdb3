"""What one job's run came to, and the one place it is written and logged.

A run (:func:`happyhorse.worker.run.run_job`) returns an :class:`Outcome`;
:func:`finish_job` writes it through the job queue, fenced by the lease (the
queue settles the job's hold in the same transaction), and logs the job's end
once. A write the lease no longer allows turns any outcome into ``lost``: the
worker drops what it made and charges nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.queue import JobQueue
from happyhorse.storage.base import Storage

log = logging.getLogger("happyhorse.worker")

STORAGE_FULL_CODE = "storage_full"


class Ending(StrEnum):
    COMPLETED = "completed"
    """Outputs stored and the job completed (its hold captured)."""
    FAILED = "failed"
    """The job failed with a code and message (its hold released)."""
    CANCELLED = "cancelled"
    """Its owner cancelled it and the engine stopped (its hold released)."""
    RELEASED = "released"
    """Shutdown: given back to the queue for another worker (its hold kept)."""
    LOST = "lost"
    """The lease was lost (another worker may have the job): nothing written, nothing charged."""


@dataclass(frozen=True)
class StoredVideo:
    """A completed run's files, stored, and the rows and result that record them."""

    keys: tuple[str, ...]
    result: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What a run came to: one of :class:`Ending`, with a code and message when it failed
    and the stored video when it completed."""

    ending: Ending
    code: str | None = None
    message: str | None = None
    stored: StoredVideo | None = None

    @classmethod
    def completed(cls, stored: StoredVideo) -> Outcome:
        return cls(Ending.COMPLETED, stored=stored)

    @classmethod
    def failed(cls, code: str, message: str) -> Outcome:
        return cls(Ending.FAILED, code=code, message=message)

    def __str__(self) -> str:
        return f"failed ({self.code})" if self.ending is Ending.FAILED else self.ending.value


CANCELLED, RELEASED, LOST = Outcome(Ending.CANCELLED), Outcome(Ending.RELEASED), Outcome(Ending.LOST)


def finish_job(
    queue: JobQueue, storage: Storage, claimed: ClaimedJob, outcome: Outcome, *, engine: str, seconds: float
) -> Ending:
    """Write ``outcome`` if the lease still allows it; returns how the job really ended
    (``lost`` when the write was fenced out). Logs the job's end once."""
    ending = _write(queue, storage, claimed, outcome, engine)
    shown = str(outcome) if ending is outcome.ending else ending.value
    log.info("job %s %s in %.2fs (attempt %d)", claimed.job.id, shown, seconds, claimed.job.attempt)
    return ending


def _write(queue: JobQueue, storage: Storage, claimed: ClaimedJob, outcome: Outcome, engine: str) -> Ending:
    match outcome.ending:
        case Ending.COMPLETED:
            assert outcome.stored is not None
            if queue.complete(claimed, result=outcome.stored.result, outputs=outcome.stored.rows, engine=engine):
                return Ending.COMPLETED
            # We lost the job while finishing: drop our output, charge nothing.
            for key in outcome.stored.keys:
                storage.delete(key)
            return Ending.LOST
        case Ending.FAILED:
            written = queue.fail(claimed, code=str(outcome.code), message=str(outcome.message))
        case Ending.CANCELLED:
            written = queue.acknowledge_cancel(claimed)
        case Ending.RELEASED:
            # Requeued, the hold stays pending for the next attempt (the queue ends it
            # cancelled instead if a cancel came in meanwhile).
            written = queue.release(claimed)
        case Ending.LOST:
            written = False
    return outcome.ending if written else Ending.LOST
