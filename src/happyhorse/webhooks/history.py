"""What an endpoint's owner sees and does about deliveries: the recent ones, a redelivery, a test send."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import webhook_deliveries as deliveries
from happyhorse.db.schema import webhook_events as events
from happyhorse.errors import Conflict, InvalidRequest, NotFound
from happyhorse.ids import is_id, new_id
from happyhorse.runtime import Runtime
from happyhorse.webhooks.delivery import RetryPolicy
from happyhorse.webhooks.endpoints import get_endpoint
from happyhorse.webhooks.sending import payload, post_event


def _to_api(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "object": "webhook_endpoint.delivery", "event_id": row.event_id, "event_type": row.type,
        "job_id": row.job_id, "status": row.status, "attempts": row.attempts,
        "last_response_code": row.last_response_code, "last_error": row.last_error,
        "next_attempt_at": int(row.next_attempt_at) if row.next_attempt_at is not None else None,
        "created_at": int(row.created_at),
        "delivered_at": int(row.delivered_at) if row.delivered_at is not None else None,
    }


def _query():  # type: ignore[no-untyped-def]
    return select(deliveries, events.c.type, events.c.job_id).join(events, events.c.id == deliveries.c.event_id)


def recent_deliveries(engine: Engine, account_id: str, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
    """The endpoint's ``limit`` newest deliveries; 404 if the endpoint is not the account's."""
    endpoint = get_endpoint(engine, account_id, endpoint_id)
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(_query().where(deliveries.c.endpoint_id == endpoint.id)
                            .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit)).all()
    return [_to_api(r) for r in rows]


def redeliver(engine: Engine, account_id: str, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
    """Make the delivery pending and due now (a delivered one is sent again, same event id)."""
    endpoint = get_endpoint(engine, account_id, endpoint_id)
    if endpoint.status != "enabled":
        raise Conflict("webhook_endpoint_disabled", "the endpoint is disabled; enable it first (enabled: true)", None)
    missing = NotFound("webhook_delivery_not_found", f"no delivery {delivery_id!r} of this endpoint", None)
    if not is_id(delivery_id, "wdl"):
        raise missing
    now = db_now(engine.dialect.name)
    with engine.begin() as conn:
        changed = conn.execute(
            update(deliveries).where(deliveries.c.id == delivery_id, deliveries.c.endpoint_id == endpoint.id)
            # A new lease token: an attempt in flight records nothing over this.
            .values(status="pending", next_attempt_at=now, lease_expires_at=None, created_at=now, updated_at=now,
                    lease_token=deliveries.c.lease_token + 1)
        ).rowcount
        if not changed:
            raise missing
        row = conn.execute(_query().where(deliveries.c.id == delivery_id)).one()
    return _to_api(row)


def send_test(runtime: Runtime, account_id: str, endpoint_id: str, event_type: str) -> dict[str, Any]:
    """POST a signed sample event now; OpenAI's ``webhook_endpoint.test`` answer (``success``: a 2xx)."""
    endpoint = get_endpoint(runtime.db, account_id, endpoint_id)
    event_id = new_id("evt")
    body = payload(event_id, event_type, time.time(), new_id("job"))
    outcome = post_event(endpoint.url, endpoint.secret, event_id, body, timeout_seconds=RetryPolicy().timeout_seconds,
                         allow_private=runtime.settings.allow_private_fetch)
    if outcome.status_code is None:
        raise InvalidRequest("webhook_test_failed", f"the test event was not delivered: {outcome.error}", None)
    return {"object": "webhook_endpoint.test", "webhook_endpoint_id": endpoint.id, "event_type": event_type,
            "status_code": outcome.status_code, "success": outcome.ok}
