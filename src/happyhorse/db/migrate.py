"""Bringing a database's schema up to date with Alembic, configured in code.

No ``alembic.ini`` is read: the migration scripts ship inside the package
(``happyhorse/db/migrations``) and :func:`alembic_config` points Alembic at them.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from happyhorse.db.engine import make_engine, normalize_database_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed 64-bit number, the same in every process: "hhmigrat" in ASCII.
_ADVISORY_LOCK_KEY = 0x6868_6D69_6772_6174


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic config for the packaged migrations, bound to ``connection`` (or ``url`` for ``--sql``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser treats % as interpolation.
        config.set_main_option("sqlalchemy.url", normalize_database_url(url).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the packaged migrations know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(database_url: str) -> None:
    """Migrate the database at ``database_url`` to the newest revision.

    Safe to call on every start (a no-op when up to date) and from several
    processes at once: the whole upgrade is one transaction, serialised by a
    PostgreSQL advisory lock, or by ``BEGIN IMMEDIATE`` on SQLite.
    """
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Held until this transaction ends; a second process waits, then
                # finds the schema at head and does nothing.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            command.upgrade(alembic_config(conn), "head")
    finally:
        engine.dispose()


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect().execution_options(readonly=True) as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
