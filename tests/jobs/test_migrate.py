"""Migrations: an empty database upgraded to head has exactly the schema of ``schema.py``."""

from __future__ import annotations

import multiprocessing
import pathlib

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import UniqueConstraint, inspect

from happyhorse.db.engine import make_engine
from happyhorse.db.migrate import current_revision, head_revision, upgrade
from happyhorse.db.schema import metadata


def _differences(database_url: str) -> list:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()


def test_upgrade_creates_the_schema_of_the_metadata(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    assert _differences(database_url) == []
    engine = make_engine(database_url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == set(metadata.tables) | {"alembic_version"}
        for table in metadata.tables.values():
            assert [c["name"] for c in inspector.get_columns(table.name)] == [c.name for c in table.columns]
            # PostgreSQL also reports the index behind each unique constraint.
            indexes = {i["name"] for i in inspector.get_indexes(table.name) if not i.get("duplicates_constraint")}
            assert indexes == {i.name for i in table.indexes}
            uniques = {u["name"] for u in inspector.get_unique_constraints(table.name)}
            assert uniques == {c.name for c in table.constraints if isinstance(c, UniqueConstraint)}
    finally:
        engine.dispose()


def test_upgrade_again_is_a_no_op(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_concurrent_upgrades_do_not_collide(database_url: str, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent))
    import jobs_procs

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=jobs_procs.upgrade_together, args=(database_url, barrier, results)) for _ in range(3)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert outcomes == [None, None, None]
    assert current_revision(database_url) == head_revision()
    assert _differences(database_url) == []
