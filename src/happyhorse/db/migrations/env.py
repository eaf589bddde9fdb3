"""Alembic environment, driven from :mod:`happyhorse.db.migrate` (no alembic.ini).

``migrate.upgrade`` hands over an open connection already inside a transaction
(and, on PostgreSQL, holding the migration advisory lock) through
``config.attributes["connection"]``; the whole upgrade then runs in that one
transaction. Offline mode (``--sql``) uses ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

from happyhorse.db.schema import metadata

config = context.config


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through happyhorse.db.migrate.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations use batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
