"""Which database errors the API answers 503 (retry) and which stay a 500 (a bug).

What a PostgreSQL restart raises, as the drivers and SQLAlchemy raise it; the
restart itself, under load, is tests/chaos/test_pg_restart.py.
"""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from starlette.testclient import TestClient

from happyhorse.api.errors import RequestIdMiddleware, caused_by_database_outage, install_error_handlers

psycopg = pytest.importorskip("psycopg")  # the postgres extra


def _pending_rollback_after_a_lost_connection() -> Exception:
    """What cleanup code raised when it touched a connection the server had dropped."""
    try:
        try:
            lost = psycopg.OperationalError("server closed the connection unexpectedly")
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, lost)
        except sqlalchemy.exc.OperationalError:
            raise sqlalchemy.exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back")
    except sqlalchemy.exc.PendingRollbackError as exc:
        return exc


OUTAGES = {
    "sqlalchemy-operational": lambda: sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused")),
    "sqlalchemy-interface": lambda: sqlalchemy.exc.InterfaceError("SELECT 1", {}, Exception("connection closed")),
    "psycopg-admin-shutdown": lambda: psycopg.errors.AdminShutdown(
        "terminating connection due to administrator command"),
    "psycopg-starting-up": lambda: psycopg.errors.CannotConnectNow("the database system is starting up"),
    "psycopg-interface": lambda: psycopg.InterfaceError("the connection is closed"),
    "invalidated-dbapi-error": lambda: sqlalchemy.exc.DatabaseError(
        "SELECT 1", {}, Exception("ssl connection has been closed unexpectedly"), connection_invalidated=True),
    "pending-rollback-after-outage": _pending_rollback_after_a_lost_connection,
    "pool-timeout": lambda: sqlalchemy.exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
}
BUGS = {
    "integrity-error": lambda: sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
    "plain-pending-rollback": lambda: sqlalchemy.exc.PendingRollbackError("rolled back"),
    "runtime-error": lambda: RuntimeError("boom"),
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/raise/{name}")
    def _raise(name: str) -> None:
        raise {**OUTAGES, **BUGS}[name]()

    # The Exception handler answers, then Starlette re-raises for the server to log.
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("name", sorted(OUTAGES))
def test_a_database_outage_is_503_with_retry_after(client: TestClient, name: str) -> None:
    response = client.get(f"/raise/{name}")
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response.headers["retry-after"] == "2"
    assert caused_by_database_outage(OUTAGES[name]())


@pytest.mark.parametrize("name", sorted(BUGS))
def test_other_errors_stay_500(client: TestClient, name: str) -> None:
    response = client.get(f"/raise/{name}")
    assert response.status_code == 500, response.text
    assert response.json()["error"]["code"] == "internal_error"
    assert not caused_by_database_outage(BUGS[name]())
