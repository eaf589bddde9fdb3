"""Wake-ups across processes on PostgreSQL: ``LISTEN``/``NOTIFY``.

The queue announces, in the transaction that makes the change, that a job can
be claimed (``happyhorse_jobs``: a submit, a give-back, a requeue by the
reaper) or that a running job's cancel was requested (``happyhorse_cancel``,
the job id as payload). PostgreSQL delivers a notification only once its
transaction has committed, and drops it with a rollback, so a listener never
hears of a job it cannot see yet.

A :class:`Listener` (one per worker process) holds one connection of its own
that listens to both channels and hands each notification to its callbacks:
an idle worker claims a job submitted by another process at once instead of
at its next poll, and a running job's cancel reaches its lease watcher at
once. Polling stays as it was, as the fallback: a notification lost while the
listener reconnects (or on SQLite, which has none) costs one poll interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from happyhorse.logs import in_context

log = logging.getLogger("happyhorse.jobs.notify")

JOBS_CHANNEL = "happyhorse_jobs"
"""A job can be claimed (no payload)."""
CANCEL_CHANNEL = "happyhorse_cancel"
"""A running job's cancel was requested (payload: the job id)."""
RECONNECT_SECONDS = (0.5, 10.0)
"""The listener's wait before reconnecting: doubling from the first, capped at the second."""


def announce(conn: Connection, channel: str, payload: str = "") -> None:
    """Notify ``channel`` when ``conn``'s transaction commits (PostgreSQL; nothing elsewhere)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(channel, payload)))


class Listener:
    """Listens to both channels on ``engine``'s PostgreSQL server in a daemon thread.

    ``on_job()`` runs for every ``happyhorse_jobs`` notification, ``on_cancel(job_id)``
    for every ``happyhorse_cancel`` one, on the listener's thread (keep them short).
    After a lost connection it reconnects with back-off, then calls ``on_job()``
    once: a job queued meanwhile is not missed for a whole poll interval.
    """

    def __init__(self, engine: Engine, *, on_job: Callable[[], None],
                 on_cancel: Callable[[str], None] = lambda job_id: None) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("LISTEN/NOTIFY needs PostgreSQL")
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.on_job, self.on_cancel = on_job, on_cancel
        self.listening = threading.Event()
        """Set while the connection is up and listening."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Listener:
        self._stop.clear()
        self._thread = threading.Thread(target=in_context(self._run), name="happyhorse-listen", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (within about a second) and close the connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        delay = RECONNECT_SECONDS[0]
        first = True
        while not self._stop.is_set():
            try:
                self._listen(wake_first=not first)
            except Exception as exc:
                if self.listening.is_set():  # it was up: start the back-off afresh
                    delay = RECONNECT_SECONDS[0]
                    log.warning("LISTEN connection lost (%s); polling meanwhile, reconnecting", exc)
                elif first:
                    log.warning("cannot LISTEN (%s); polling meanwhile, retrying", exc)
            finally:
                self.listening.clear()
                first = False
            self._stop.wait(delay)
            delay = min(delay * 2, RECONNECT_SECONDS[1])

    def _listen(self, *, wake_first: bool) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {JOBS_CHANNEL}")
            conn.execute(f"LISTEN {CANCEL_CHANNEL}")
            self.listening.set()
            if wake_first:
                self.on_job()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=1.0):
                    if note.channel == CANCEL_CHANNEL:
                        self.on_cancel(note.payload)
                    else:
                        self.on_job()
                    if self._stop.is_set():
                        return
