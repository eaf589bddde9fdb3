"""The outbox: the event of a job's ending, written in the transaction that ends it.

:func:`record_webhook_event` is one of the queue's ending hooks (see
:func:`ending_hooks` and :meth:`happyhorse.runtime.Runtime.open`): it runs only
after the fenced update ended the job, in the same transaction, so an event
exists exactly when its job ended, and a crash loses none. It writes the event
and one ``pending`` delivery per enabled endpoint of the job's account that asked
for that type; an account without such an endpoint gets no row at all.
:func:`record_started_event` is the claim's hook (``on_start``): ``video.started``,
written once per job, on its first claim.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from happyhorse.db.clock import db_now
from happyhorse.db.schema import jobs, webhook_deliveries, webhook_endpoints, webhook_events
from happyhorse.ids import new_id
from happyhorse.jobs.status import Status

OnEnd = Callable[[Connection, str, Status], None]

STARTED = "video.started"
EVENT_OF_STATUS = {
    Status.COMPLETED: "video.completed",
    Status.FAILED: "video.failed",
    Status.CANCELLED: "video.cancelled",
}


def ending_hooks(*hooks: OnEnd) -> OnEnd:
    """One ``on_end`` that calls each of ``hooks`` in order, in the same transaction."""

    def on_end(conn: Connection, job_id: str, status: Status) -> None:
        for hook in hooks:
            hook(conn, job_id, status)

    return on_end


def record_webhook_event(conn: Connection, job_id: str, status: Status) -> None:
    """Write the job's ``video.<status>`` event and its deliveries, if any endpoint of its account wants it."""
    event_type = EVENT_OF_STATUS.get(status)
    if event_type is None:
        return
    account_id = conn.execute(select(jobs.c.account_id).where(jobs.c.id == job_id)).scalar_one()
    record_event(conn, account_id, event_type, job_id)


def record_started_event(conn: Connection, job_id: str) -> None:
    """Write the job's ``video.started`` event, if an endpoint of its account wants it, on the job's
    first claim only: a retry (after a lost worker or a give-back) writes no second one."""
    already = conn.execute(
        select(webhook_events.c.id).where(webhook_events.c.job_id == job_id, webhook_events.c.type == STARTED)
    ).first()
    if already is None:
        account_id = conn.execute(select(jobs.c.account_id).where(jobs.c.id == job_id)).scalar_one()
        record_event(conn, account_id, STARTED, job_id)


def record_event(conn: Connection, account_id: str, event_type: str, job_id: str | None,
                 *, endpoint_ids: list[str] | None = None) -> str | None:
    """Write an event of ``account_id`` and a pending delivery to each of its enabled endpoints that
    asked for ``event_type`` (only those of ``endpoint_ids``, if given). The event's id, or None when
    no endpoint wants it (then nothing is written)."""
    rows = conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.event_types)
        .where(webhook_endpoints.c.account_id == account_id, webhook_endpoints.c.status == "enabled")
    ).all()
    targets = [r.id for r in rows if event_type in r.event_types and (endpoint_ids is None or r.id in endpoint_ids)]
    if not targets:
        return None
    now = db_now(conn.dialect.name)
    event_id = new_id("evt")
    conn.execute(insert(webhook_events).values(id=event_id, account_id=account_id, type=event_type, job_id=job_id,
                                               created_at=now))
    for endpoint_id in sorted(targets):
        conn.execute(insert(webhook_deliveries).values(
            id=new_id("wdl"), event_id=event_id, endpoint_id=endpoint_id, status="pending", attempts=0,
            next_attempt_at=now, lease_token=0, created_at=now, updated_at=now,
        ))
    return event_id
