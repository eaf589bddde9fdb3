"""Telling "the database is away" (restarted, unreachable) from "the query is wrong".

The API answers the first with a 503 the client can retry (``api.errors``); the
worker and the webhook loop back off and count it (``happyhorse_database_errors_total``).
"""

from __future__ import annotations


def database_errors() -> tuple[type[Exception], ...]:
    """The exception classes that mean "the database is away" (not "the query is wrong")."""
    import sqlite3

    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    # PoolTimeout: every pooled connection stayed busy past the pool's wait (a database that
    # crawls). The polling path (jobs/polling.py) talks to the driver directly: its errors arrive unwrapped.
    errors: list[type[Exception]] = [OperationalError, InterfaceError, DisconnectionError, PoolTimeout,
                                     sqlite3.OperationalError]
    try:
        import psycopg
    except ImportError:  # the postgres extra is not installed
        pass
    else:
        # OperationalError covers refused connections, AdminShutdown ("terminating connection
        # due to administrator command"), CannotConnectNow ("the database system is starting up").
        errors += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(errors)


def caused_by_database_outage(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from or while handling, means the database is away."""
    from sqlalchemy.exc import DBAPIError

    unavailable = database_errors()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, unavailable) or (isinstance(current, DBAPIError) and current.connection_invalidated):
            return True
        current = current.__cause__ or current.__context__
    return False
