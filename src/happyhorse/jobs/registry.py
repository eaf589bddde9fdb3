"""The worker registry: which workers run, with which engine, serving which modes.

An engine may serve only some of the model's modes (``magihuman`` was not
trained for r2v): its worker claims only jobs of those modes
(:meth:`~happyhorse.jobs.queue.JobQueue.claim_next`). So that such a job does
not wait forever for a worker that will never come, each worker registers
itself here — a row upserted at start and on a heartbeat from its
housekeeping thread, deleted on a clean stop — and the API reads the workers
*seen recently* (within ``Settings.worker_seen_seconds``): ``GET /v1/models``
says which modes they serve, and submit refuses a mode none of them serves
(400 ``mode_not_served``). With no worker registered at all (an API started
before its workers, or between restarts) nothing is refused: jobs queue, as
they always did, and the card says that no worker is registered.

Times come from the database clock, as leases do. A crashed worker's row
stays until it is pruned (a day after it was last seen), but stops counting
once it has not been seen for the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import workers
from happyhorse.rules import RULES

PRUNE_AFTER_SECONDS = 24 * 3600.0
"""A registration not refreshed for this long is deleted (by the next worker that registers)."""


@dataclass(frozen=True)
class RegisteredWorker:
    """One worker's registration."""

    worker_id: str
    engine: str
    modes: tuple[str, ...]
    started_at: float
    last_seen_at: float


@dataclass(frozen=True)
class Serving:
    """What the workers seen recently serve; with none, nothing is known (and nothing refused)."""

    workers: tuple[RegisteredWorker, ...]

    @property
    def registered(self) -> bool:
        """Whether any worker was seen recently."""
        return bool(self.workers)

    @property
    def modes(self) -> tuple[str, ...]:
        """The modes some recent worker serves, in the rules' order; with no worker
        registered, every mode of the rules (what a worker may yet serve)."""
        if not self.workers:
            return RULES.modes
        served = {mode for worker in self.workers for mode in worker.modes}
        return tuple(mode for mode in RULES.modes if mode in served)

    def serves(self, mode: str) -> bool:
        """Whether a job of ``mode`` can be expected to run (always, with no worker registered)."""
        return mode in self.modes

    def engines(self) -> list[dict[str, Any]]:
        """Each engine (with the modes it serves) and how many recent workers run it, by name."""
        counts: dict[tuple[str, tuple[str, ...]], int] = {}
        for worker in self.workers:
            key = (worker.engine, worker.modes)
            counts[key] = counts.get(key, 0) + 1
        return [{"name": name, "modes": list(modes), "workers": count}
                for (name, modes), count in sorted(counts.items())]


class WorkerRegistry:
    """Registrations of the workers of one database (see the module docstring). Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._now = db_now(engine.dialect.name)

    def register(self, worker_id: str, engine: str, modes: Iterable[str]) -> None:
        """Add the worker, or refresh its registration (engine, modes, last seen now)."""
        values = {"id": worker_id, "engine": engine, "modes": list(modes), "started_at": self._now,
                  "last_seen_at": self._now}
        with self.engine.begin() as conn:
            stmt = _insert(conn).values(**values)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[workers.c.id],
                set_={"engine": stmt.excluded.engine, "modes": stmt.excluded.modes,
                      "last_seen_at": stmt.excluded.last_seen_at},
            ))
            conn.execute(delete(workers).where(workers.c.last_seen_at < self._now - PRUNE_AFTER_SECONDS))

    def unregister(self, worker_id: str) -> None:
        """Remove the worker's registration (a clean stop)."""
        with self.engine.begin() as conn:
            conn.execute(delete(workers).where(workers.c.id == worker_id))

    def serving(self, window_seconds: float) -> Serving:
        """The workers seen in the last ``window_seconds``, by id."""
        query = (
            select(workers)
            .where(workers.c.last_seen_at >= self._now - window_seconds)
            .order_by(workers.c.id)
        )
        with self.engine.connect().execution_options(readonly=True) as conn:
            rows = conn.execute(query).all()
        return Serving(tuple(
            RegisteredWorker(worker_id=row.id, engine=row.engine, modes=tuple(row.modes),
                             started_at=row.started_at, last_seen_at=row.last_seen_at)
            for row in rows
        ))


def _insert(conn: Connection):  # type: ignore[no-untyped-def]
    """The dialect's ``INSERT`` (both have ``ON CONFLICT DO UPDATE``)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(workers)
