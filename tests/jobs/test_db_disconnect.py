"""Connections the server dropped (PostgreSQL restarted): the error that comes out is the
database's own, and the next call reconnects on its own.

A restart is simulated by ``pg_terminate_backend`` on the test's own backend
(what a fast shutdown does to every session: "terminating connection due to
administrator command"). The real restart under load is the chaos suite's
(tests/chaos/test_pg_restart.py).
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.engine import Engine

from happyhorse.jobs.polling import poll_job
from happyhorse.jobs.queue import JobQueue

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_url: str) -> str:  # PostgreSQL only: SQLite has no server to lose
    return postgres_url


def _terminate_backends(engine: Engine) -> int:
    """Drop every other session of this database, as a server restart would."""
    admin = engine.url.set(database="postgres")
    import psycopg

    with psycopg.connect(admin.render_as_string(hide_password=False).replace("+psycopg", ""),
                         autocommit=True) as conn:
        return len(conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (engine.url.database,),
        ).fetchall())


def test_a_transaction_whose_connection_dies_raises_the_driver_error(engine: Engine, queue: JobQueue) -> None:
    """Regression: the wake-up hook read ``conn.info`` on rollback, which on an invalidated
    connection raises PendingRollbackError, hiding the OperationalError (a 500 instead of a 503)."""
    with pytest.raises(sqlalchemy.exc.OperationalError) as caught:
        with engine.begin() as conn:
            queue._work.mark(conn)
            conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    assert caught.value.connection_invalidated
    with engine.begin() as conn:  # and the next transaction just works
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_pooled_connections_killed_by_the_server_are_replaced_on_checkout(engine: Engine, queue: JobQueue) -> None:
    connections = [engine.connect() for _ in range(3)]
    for conn in connections:
        conn.execute(text("SELECT 1"))
        conn.close()  # back to the pool, alive
    assert _terminate_backends(engine) >= 1
    for _ in range(5):
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert queue.claim_next("w1") is None


def test_the_polling_path_reconnects_after_the_server_dropped_its_connection(engine: Engine) -> None:
    poll_job(engine, "job_missing", "0" * 64)  # leaves a connection in the pool
    _terminate_backends(engine)
    for _ in range(3):
        assert poll_job(engine, "job_missing", "0" * 64) is None


def test_the_polling_path_raises_the_driver_error_then_recovers(engine: Engine, monkeypatch, caplog) -> None:
    """A connection that dies during the poll's query: the error is the driver's (mapped to
    503 by the API), and the broken connection is thrown away, not handed back to the pool
    (whose reset would fail and log a traceback for every poll while the database is away)."""
    import psycopg

    import happyhorse.jobs.polling as polling

    monkeypatch.setattr(polling, "_sql_for", lambda _engine: "SELECT pg_terminate_backend(pg_backend_pid())")
    with caplog.at_level(logging.ERROR, logger="sqlalchemy.pool"):
        with pytest.raises(psycopg.OperationalError):
            poll_job(engine, "job_x", "0" * 64)
    assert not [r for r in caplog.records if r.name.startswith("sqlalchemy.pool")], caplog.text
    monkeypatch.undo()
    assert engine.pool.checkedout() == 0
    for _ in range(3):
        assert poll_job(engine, "job_missing", "0" * 64) is None
