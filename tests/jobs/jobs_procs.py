"""Functions run in spawned processes by the tests (imported by module name)."""

from __future__ import annotations

import traceback
from typing import Any


def claim_until_empty(database_url: str, worker_id: str, barrier: Any, results: Any) -> None:
    """Put the list of claimed job ids on ``results`` (or the traceback text on failure)."""
    try:
        from happyhorse.db.engine import make_engine
        from happyhorse.jobs.queue import JobQueue

        engine = make_engine(database_url, pool_size=1)
        queue = JobQueue(engine)
        barrier.wait(timeout=60)
        claimed: list[str] = []
        while (job := queue.claim_next(worker_id)) is not None:
            claimed.append(job.id)
        engine.dispose()
        results.put(claimed)
    except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
        results.put(traceback.format_exc())


def upgrade_together(database_url: str, barrier: Any, results: Any) -> None:
    """Migrate once all processes are ready; put None (or the traceback text) on ``results``."""
    try:
        from happyhorse.db.migrate import upgrade

        barrier.wait(timeout=60)
        upgrade(database_url)
        results.put(None)
    except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
        results.put(traceback.format_exc())
