"""The worker registry: workers register with their engine's modes, refresh, leave, lapse (issue 13)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from happyhorse.db.clock import read_db_now
from happyhorse.db.schema import workers
from happyhorse.jobs.registry import PRUNE_AFTER_SECONDS, WorkerRegistry
from happyhorse.rules import RULES

WINDOW = 60.0


def _seen_ago(engine: Engine, worker_id: str, seconds: float) -> None:
    """Move a worker's last sighting ``seconds`` into the past (by the database clock)."""
    with engine.begin() as conn:
        now = read_db_now(conn)
        conn.execute(update(workers).where(workers.c.id == worker_id).values(last_seen_at=now - seconds))


def test_with_no_worker_registered_every_mode_counts_as_served(engine: Engine) -> None:
    serving = WorkerRegistry(engine).serving(WINDOW)
    assert not serving.registered and serving.workers == ()
    assert serving.modes == RULES.modes and all(serving.serves(mode) for mode in RULES.modes)
    assert serving.engines() == []


def test_registered_workers_say_which_modes_are_served(engine: Engine) -> None:
    registry = WorkerRegistry(engine)
    registry.register("host:1:a", "magihuman", ("t2v", "i2v"))
    serving = registry.serving(WINDOW)
    assert serving.registered and serving.modes == ("t2v", "i2v")
    assert serving.serves("t2v") and serving.serves("i2v") and not serving.serves("r2v")
    [worker] = serving.workers
    assert (worker.worker_id, worker.engine, worker.modes) == ("host:1:a", "magihuman", ("t2v", "i2v"))

    registry.register("host:2:b", "magihuman", ("t2v", "i2v"))
    registry.register("host:3:c", "preview", RULES.modes)
    serving = registry.serving(WINDOW)
    assert serving.modes == RULES.modes and serving.serves("r2v")
    assert serving.engines() == [
        {"name": "magihuman", "modes": ["t2v", "i2v"], "workers": 2},
        {"name": "preview", "modes": ["t2v", "i2v", "r2v"], "workers": 1},
    ]


def test_a_heartbeat_refreshes_the_registration_and_keeps_its_start(engine: Engine) -> None:
    registry = WorkerRegistry(engine)
    registry.register("w", "preview", RULES.modes)
    _seen_ago(engine, "w", 1000)
    [before] = WorkerRegistry(engine).serving(10_000).workers
    registry.register("w", "ltx2", ("t2v",))  # same id: an upsert, not a second row
    [after] = registry.serving(WINDOW).workers
    assert after.started_at == before.started_at and after.last_seen_at > before.last_seen_at + 900
    assert (after.engine, after.modes) == ("ltx2", ("t2v",))
    with engine.connect() as conn:
        assert conn.execute(select(workers.c.id)).scalars().all() == ["w"]


def test_a_worker_not_seen_within_the_window_no_longer_counts(engine: Engine) -> None:
    registry = WorkerRegistry(engine)
    registry.register("gone", "preview", RULES.modes)
    registry.register("here", "magihuman", ("t2v", "i2v"))
    _seen_ago(engine, "gone", WINDOW + 5)
    serving = registry.serving(WINDOW)
    assert [w.worker_id for w in serving.workers] == ["here"] and not serving.serves("r2v")
    assert registry.serving(WINDOW + 60).serves("r2v")  # still there, only too old for this window

    _seen_ago(engine, "here", WINDOW + 5)  # every worker lapsed: nothing known, nothing refused
    assert not registry.serving(WINDOW).registered and registry.serving(WINDOW).serves("r2v")


def test_a_clean_stop_unregisters_and_old_registrations_are_pruned(engine: Engine) -> None:
    registry = WorkerRegistry(engine)
    registry.register("a", "preview", RULES.modes)
    registry.register("b", "preview", RULES.modes)
    registry.unregister("a")
    assert [w.worker_id for w in registry.serving(WINDOW).workers] == ["b"]
    registry.unregister("a")  # twice: nothing to do

    _seen_ago(engine, "b", PRUNE_AFTER_SECONDS + 10)  # crashed a day ago
    registry.register("c", "preview", RULES.modes)
    with engine.connect() as conn:
        assert conn.execute(select(workers.c.id)).scalars().all() == ["c"]
