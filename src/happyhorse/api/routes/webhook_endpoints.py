"""``/v1/webhook_endpoints``: an account's webhook endpoints (OpenAI's ``webhooks`` resource) and
each endpoint's recent deliveries (ours)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from happyhorse.api.body import read_limited_body
from happyhorse.api.deps import CurrentAccount, RuntimeDep
from happyhorse.api.schemas import error_responses
from happyhorse.errors import InvalidRequest
from happyhorse.runtime import Runtime
from happyhorse.webhooks import endpoints as store
from happyhorse.webhooks import history

router = APIRouter(tags=["webhooks"])
MAX_BODY = 16 * 1024


def _json_body(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads its JSON itself (:func:`_json`)."""
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return {"requestBody": {"required": bool(required), "content": {"application/json": {"schema": schema}}}}


_EVENT_TYPE = {"type": "string", "enum": list(store.EVENT_TYPES)}
_ENDPOINT_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": store.MAX_NAME_LENGTH},
    "url": {"type": "string", "description": "http(s) URL that resolves to public addresses only"},
    "event_types": {"type": "array", "items": _EVENT_TYPE, "minItems": 1},
}


async def _json(request: Request, allowed: set[str]) -> dict[str, Any]:
    raw = await read_limited_body(request, MAX_BODY)
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidRequest("invalid_json", "the body must be a JSON object", None) from None
    if not isinstance(body, dict):
        raise InvalidRequest("invalid_json", "the body must be a JSON object", None)
    for name in body:
        if name not in allowed:
            raise InvalidRequest("unknown_field", f"unknown field {name!r}; expected {', '.join(sorted(allowed))}", name)
    return body


def _checked(runtime: Runtime, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("url", "event_types"):
        if creating and name not in body:
            raise InvalidRequest("missing_field", f"{name} is required", name)
    if "name" in body:
        changes["name"] = store.check_name(body["name"])
    if "event_types" in body:
        changes["event_types"] = store.check_event_types(body["event_types"])
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise InvalidRequest("invalid_enabled", "enabled must be true or false", "enabled")
        changes["enabled"] = body["enabled"]
    if "url" in body:
        changes["url"] = store.check_url(body["url"], allow_private=runtime.settings.allow_private_fetch)
    return changes


@router.post("/v1/webhook_endpoints", status_code=201, summary="Register a webhook endpoint",
             responses=error_responses(400, 401, 429, 503),
             openapi_extra=_json_body(_ENDPOINT_FIELDS, required=("url", "event_types")))
async def create_webhook_endpoint(request: Request, runtime: RuntimeDep, account: CurrentAccount) -> dict:
    """``{"name", "url", "event_types"}``; the answer carries ``signing_secret``, shown only now."""
    body = await _json(request, {"name", "url", "event_types"})

    def create() -> dict:
        values = _checked(runtime, body, creating=True)
        endpoint = store.create_endpoint(runtime.db, account.id, name=values.get("name", ""), url=values["url"],
                                         event_types=values["event_types"])
        return endpoint.to_api(with_secret=True)

    return await run_in_threadpool(create)


@router.get("/v1/webhook_event_types", summary="The event types an endpoint may ask for",
            responses=error_responses(401, 429, 503))
async def list_webhook_event_types(account: CurrentAccount) -> dict:
    """OpenAI's ``webhooks.event_types.list()``."""
    return {"object": "list", "data": list(store.EVENT_TYPES)}


@router.get("/v1/webhook_endpoints", summary="List webhook endpoints", responses=error_responses(400, 401, 429, 503))
async def list_webhook_endpoints(runtime: RuntimeDep, account: CurrentAccount,
                                 limit: int = Query(20, ge=1, le=100), after: str | None = None) -> dict:
    page, more = await run_in_threadpool(store.list_endpoints, runtime.db, account.id, limit=limit, after=after)
    data = [e.to_api() for e in page]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": more}


@router.get("/v1/webhook_endpoints/{endpoint_id}", summary="One webhook endpoint",
            responses=error_responses(401, 404, 429, 503))
async def get_webhook_endpoint(endpoint_id: str, runtime: RuntimeDep, account: CurrentAccount) -> dict:
    return (await run_in_threadpool(store.get_endpoint, runtime.db, account.id, endpoint_id)).to_api()


@router.post("/v1/webhook_endpoints/{endpoint_id}", summary="Update a webhook endpoint",
             responses=error_responses(400, 401, 404, 429, 503),
             openapi_extra=_json_body({**_ENDPOINT_FIELDS, "enabled": {"type": "boolean"}}))
async def update_webhook_endpoint(endpoint_id: str, request: Request, runtime: RuntimeDep,
                                  account: CurrentAccount) -> dict:
    """Any of ``name``, ``url``, ``event_types`` and (ours) ``enabled``."""
    body = await _json(request, {"name", "url", "event_types", "enabled"})

    def change() -> dict:
        store.get_endpoint(runtime.db, account.id, endpoint_id)  # 404 before any check of the body
        return store.update_endpoint(runtime.db, account.id, endpoint_id, _checked(runtime, body, creating=False)
                                     ).to_api()

    return await run_in_threadpool(change)


@router.delete("/v1/webhook_endpoints/{endpoint_id}", summary="Delete a webhook endpoint",
               responses=error_responses(401, 404, 429, 503))
async def delete_webhook_endpoint(endpoint_id: str, runtime: RuntimeDep, account: CurrentAccount) -> dict:
    await run_in_threadpool(store.delete_endpoint, runtime.db, account.id, endpoint_id)
    return {"id": endpoint_id, "object": "webhook_endpoint.deleted", "deleted": True}


@router.post("/v1/webhook_endpoints/{endpoint_id}/rotate_secret", summary="Rotate an endpoint's signing secret",
             responses=error_responses(400, 401, 404, 429, 503),
             openapi_extra=_json_body({"keep_old_secret_active_for_24_hours": {"type": "boolean", "enum": [False]}}))
async def rotate_webhook_secret(endpoint_id: str, request: Request, runtime: RuntimeDep,
                                account: CurrentAccount) -> dict:
    """A new ``signing_secret``, shown only now; the old one stops at once (keeping it 24 h is not offered)."""
    body = await _json(request, {"keep_old_secret_active_for_24_hours"})
    if body.get("keep_old_secret_active_for_24_hours"):
        raise InvalidRequest("not_supported", "keeping the old secret active is not supported",
                             "keep_old_secret_active_for_24_hours")
    return (await run_in_threadpool(store.rotate_secret, runtime.db, account.id, endpoint_id)).to_api(with_secret=True)


@router.post("/v1/webhook_endpoints/{endpoint_id}/test", summary="Send a sample event now",
             responses=error_responses(400, 401, 404, 429, 503),
             openapi_extra=_json_body({"event_type": _EVENT_TYPE}, required=("event_type",)))
async def test_webhook_endpoint(endpoint_id: str, request: Request, runtime: RuntimeDep,
                                account: CurrentAccount) -> dict:
    """POSTs a signed sample ``event_type`` event (``data.id`` a made-up job id) at once, through the
    egress guard, and answers the receiver's status code (400 ``webhook_test_failed`` if none came)."""
    body = await _json(request, {"event_type"})
    event_type = body.get("event_type")
    if event_type not in store.EVENT_TYPES:
        raise InvalidRequest("invalid_event_type", f"event_type must be one of {', '.join(store.EVENT_TYPES)}",
                             "event_type")
    return await run_in_threadpool(history.send_test, runtime, account.id, endpoint_id, event_type)


@router.get("/v1/webhook_endpoints/{endpoint_id}/deliveries", summary="An endpoint's recent deliveries",
            responses=error_responses(400, 401, 404, 429, 503))
async def list_deliveries(endpoint_id: str, runtime: RuntimeDep, account: CurrentAccount,
                          limit: int = Query(20, ge=1, le=100)) -> dict:
    """Newest first: ``status`` (pending, delivered, failed, disabled), ``attempts``,
    ``last_response_code``, ``last_error``, ``next_attempt_at``."""
    data = await run_in_threadpool(history.recent_deliveries, runtime.db, account.id, endpoint_id, limit)
    return {"object": "list", "data": data, "has_more": False}


@router.post("/v1/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver",
             summary="Deliver an event again", responses=error_responses(401, 404, 409, 429, 503))
async def redeliver(endpoint_id: str, delivery_id: str, runtime: RuntimeDep, account: CurrentAccount) -> dict:
    """Puts the delivery back to ``pending``, due now (same event, same ``webhook-id``). 409 while its
    endpoint is disabled."""
    return await run_in_threadpool(history.redeliver, runtime.db, account.id, endpoint_id, delivery_id)
