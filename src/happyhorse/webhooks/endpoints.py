"""An account's webhook endpoints: the rows, their checks and their API shape (OpenAI's
``webhook_endpoint`` object, plus ours: ``status`` and ``disabled_reason``).

Every read and write names the account: another account's endpoint is not found (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from happyhorse.db.clock import db_now
from happyhorse.db.schema import webhook_deliveries, webhook_endpoints
from happyhorse.errors import InvalidRequest, NotFound
from happyhorse.ids import is_id, new_id
from happyhorse.inputs.fetch import FetchError, Resolver, checked_targets
from happyhorse.webhooks.signing import new_secret

EVENT_TYPES = ("video.completed", "video.failed", "video.cancelled", "video.started")
"""The event types an endpoint may ask for (``video.started``: when a job first starts running)."""

MAX_ENDPOINTS_PER_ACCOUNT = 20
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Endpoint:
    id: str
    account_id: str
    name: str | None
    url: str
    event_types: tuple[str, ...]
    secret: str
    status: str
    disabled_reason: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: RowMapping) -> Endpoint:
        return cls(row["id"], row["account_id"], row["name"], row["url"], tuple(row["event_types"]), row["secret"],
                   row["status"], row["disabled_reason"], row["created_at"], row["updated_at"])

    def to_api(self, *, with_secret: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "object": "webhook_endpoint", "name": self.name or "", "url": self.url,
            "event_types": list(self.event_types), "created_at": int(self.created_at),
            "updated_at": int(self.updated_at), "signing_secret_hint": f"whsec_...{self.secret[-4:]}",
            "status": self.status, "disabled_reason": self.disabled_reason,
        }
        if with_secret:
            body["signing_secret"] = self.secret
        return body


def check_url(url: object, *, allow_private: bool, resolver: Resolver | None = None) -> str:
    """``url`` if the egress guard lets deliveries reach it (see :mod:`happyhorse.inputs.fetch`),
    else :class:`InvalidRequest` naming ``url``. Resolves the host: call it off the event loop."""
    if not isinstance(url, str) or not url:
        raise InvalidRequest("invalid_webhook_url", "url must be an http:// or https:// URL", "url")
    try:
        checked_targets(url, allow_private=allow_private, resolver=resolver)
    except FetchError as exc:
        message = exc.message.replace("image URL", "webhook URL").replace(
            "only images on the public internet can be fetched", "webhooks are delivered only to public addresses"
        )
        code = "invalid_webhook_url" if exc.code == "invalid_image_url" else "webhook_url_forbidden"
        raise InvalidRequest(code, message, "url") from None
    return url


def check_event_types(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidRequest("invalid_event_types", f"event_types must be a non-empty list of {', '.join(EVENT_TYPES)}",
                             "event_types")
    unknown = [v for v in value if v not in EVENT_TYPES]
    if unknown:
        raise InvalidRequest("invalid_event_types",
                             f"unknown event type {unknown[0]!r}; expected any of {', '.join(EVENT_TYPES)}",
                             "event_types")
    return tuple(dict.fromkeys(value))


def check_name(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
        raise InvalidRequest("invalid_name", f"name must be a string of at most {MAX_NAME_LENGTH} characters", "name")
    return value


def create_endpoint(engine: Engine, account_id: str, *, name: str, url: str, event_types: Sequence[str]) -> Endpoint:
    """A new enabled endpoint (``url`` already checked by :func:`check_url`)."""
    now = db_now(engine.dialect.name)
    with engine.begin() as conn:
        count = len(conn.execute(select(webhook_endpoints.c.id).where(webhook_endpoints.c.account_id == account_id)).all())
        if count >= MAX_ENDPOINTS_PER_ACCOUNT:
            raise InvalidRequest("too_many_webhook_endpoints",
                                 f"an account may have at most {MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints; "
                                 "delete one first", None)
        endpoint_id = new_id("we")
        conn.execute(insert(webhook_endpoints).values(
            id=endpoint_id, account_id=account_id, name=name, url=url, event_types=list(event_types),
            secret=new_secret(), status="enabled", disabled_reason=None, created_at=now, updated_at=now,
        ))
        return _get(conn, account_id, endpoint_id)


def get_endpoint(engine: Engine, account_id: str, endpoint_id: str) -> Endpoint:
    with engine.connect().execution_options(readonly=True) as conn:
        return _get(conn, account_id, endpoint_id)


def _get(conn: Connection, account_id: str, endpoint_id: str) -> Endpoint:
    if not is_id(endpoint_id, "we"):
        raise _not_found(endpoint_id)
    row = conn.execute(select(webhook_endpoints).where(
        webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.account_id == account_id)).mappings().first()
    if row is None:
        raise _not_found(endpoint_id)
    return Endpoint.from_row(row)


def _not_found(endpoint_id: str) -> NotFound:
    return NotFound("webhook_endpoint_not_found", f"no webhook endpoint {endpoint_id!r} in this account", None)


def list_endpoints(engine: Engine, account_id: str, *, limit: int = 20, after: str | None = None
                   ) -> tuple[list[Endpoint], bool]:
    """A page of the account's endpoints, newest first, and whether more follow."""
    query = (select(webhook_endpoints).where(webhook_endpoints.c.account_id == account_id)
             .order_by(webhook_endpoints.c.id.desc()).limit(limit + 1))
    if after is not None:
        query = query.where(webhook_endpoints.c.id < after)
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(query).mappings().all()
    return [Endpoint.from_row(r) for r in rows[:limit]], len(rows) > limit


def update_endpoint(engine: Engine, account_id: str, endpoint_id: str, changes: dict[str, Any]) -> Endpoint:
    """Apply ``changes`` (checked ``name``, ``url``, ``event_types``, ``enabled``) to the endpoint.
    ``enabled: true`` enables an endpoint again (the deliverer's 410 included); ``false`` disables it."""
    values: dict[str, Any] = {k: (list(v) if k == "event_types" else v) for k, v in changes.items() if k != "enabled"}
    if "enabled" in changes:
        values["status"] = "enabled" if changes["enabled"] else "disabled"
        values["disabled_reason"] = None if changes["enabled"] else "disabled by its owner"
    with engine.begin() as conn:
        current = _get(conn, account_id, endpoint_id)
        if values:
            conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == current.id)
                         .values(**values, updated_at=db_now(engine.dialect.name)))
            if values.get("status") == "disabled":
                disable_pending(conn, current.id)
        return _get(conn, account_id, endpoint_id)


def rotate_secret(engine: Engine, account_id: str, endpoint_id: str) -> Endpoint:
    """A new secret for the endpoint; the old one stops signing at once (pending retries use the new one)."""
    with engine.begin() as conn:
        current = _get(conn, account_id, endpoint_id)
        conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == current.id)
                     .values(secret=new_secret(), updated_at=db_now(engine.dialect.name)))
        return _get(conn, account_id, endpoint_id)


def delete_endpoint(engine: Engine, account_id: str, endpoint_id: str) -> None:
    """Delete the endpoint and its deliveries (delivered or not); its events stay for other endpoints."""
    with engine.begin() as conn:
        current = _get(conn, account_id, endpoint_id)
        conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == current.id))
        conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == current.id))


def disable_pending(conn: Connection, endpoint_id: str) -> None:
    """Mark the endpoint's pending deliveries ``disabled`` (its endpoint was disabled)."""
    conn.execute(update(webhook_deliveries)
                 .where(webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == "pending")
                 .values(status="disabled", next_attempt_at=None, lease_expires_at=None,
                         updated_at=db_now(conn.dialect.name)))
