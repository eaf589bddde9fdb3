"""Waking this process's idle workers when a job is committed in this process.

In-process only: workers in other processes hear of new jobs through
``LISTEN``/``NOTIFY`` on PostgreSQL (:mod:`happyhorse.jobs.notify`), else by
polling (``wait_for_work``'s timeout).

SQLAlchemy's ``commit`` event fires *before* the database commits, and a
worker woken then would find nothing and sleep a whole poll interval. So a
pending wake-up is marked on the connection, promoted at ``commit``, and
delivered on the first sign that the commit is over: the connection going back
to the pool, or beginning its next transaction. A rollback drops it.

A connection the server dropped (a database restart) is invalidated, and
reading its ``info`` then raises ``PendingRollbackError``, which would hide
the real error from the caller (a 500 instead of a 503): the hooks never
touch an invalidated connection, and wake the waiters instead (the commit
may have happened; a spare wake-up costs one look at the queue).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

_PENDING = "pending"
_COMMITTED = "committed"


class CommitSignal:
    """An event set after a transaction that called :meth:`mark` has committed."""

    def __init__(self, engine: Engine) -> None:
        self._event = threading.Event()
        # Connection.info lives on the pooled connection: one key per signal.
        self._key = f"happyhorse.jobs.wakeup.{id(self)}"
        event.listen(engine, "commit", self._on_commit)
        event.listen(engine, "rollback", self._on_rollback)
        event.listen(engine, "begin", self._on_begin)
        event.listen(engine, "checkin", self._on_checkin)

    def mark(self, conn: Connection) -> None:
        """Deliver a wake-up once ``conn``'s current transaction has committed."""
        conn.info[self._key] = _PENDING

    def set(self) -> None:
        """Wake the waiters now."""
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Sleep until woken or ``timeout`` seconds pass; consumes the wake-up."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def _on_commit(self, conn: Connection) -> None:
        if conn.info.get(self._key) == _PENDING:
            conn.info[self._key] = _COMMITTED

    def _on_rollback(self, conn: Connection) -> None:
        if conn.invalidated:
            # Its info went with the connection; whether a marked commit happened is unknown.
            self.set()
        elif conn.info.pop(self._key, None) == _COMMITTED:
            self.set()

    def _on_begin(self, conn: Connection) -> None:
        if not conn.invalidated:
            self._deliver(conn.info)

    def _on_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            self._deliver(record.info)

    def _deliver(self, info: dict[Any, Any]) -> None:
        if info.get(self._key) == _COMMITTED:
            del info[self._key]
            self.set()
