"""The database clock, as seconds since the epoch, in SQL."""

from __future__ import annotations

from sqlalchemy import Float, literal_column
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement


def db_now(dialect_name: str) -> ColumnElement[float]:
    """An SQL expression for 'now' on the database server, in epoch seconds."""
    if dialect_name == "postgresql":
        # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
        return literal_column("extract(epoch from clock_timestamp())::double precision", Float)
    if dialect_name == "sqlite":
        return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)
    raise ValueError(f"unsupported database {dialect_name!r}")


def read_db_now(conn: Connection) -> float:
    from sqlalchemy import select

    return float(conn.execute(select(db_now(conn.dialect.name))).scalar_one())
