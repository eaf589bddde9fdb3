"""The dashboard-only API under ``/dashboard/api``: session-authenticated, CSRF-checked.

Everything else the pages show comes from the public ``/v1`` API. What lives
here has no public endpoint: managing the account's API keys (a key should
not be able to mint keys), the ledger, and the operator's views.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from happyhorse.accounts import create_key
from happyhorse.api.checked_body import checked_body_route
from happyhorse.api.deps import RuntimeDep
from happyhorse.api.presenters import iso_time
from happyhorse.errors import InvalidRequest
from happyhorse.web import dashboard
from happyhorse.web.auth import CsrfSessionDep, OperatorDep, SessionDep

# Bodies are capped (64 KB) and their text checked before pydantic sees them: see api.checked_body.
router = APIRouter(prefix="/dashboard/api", include_in_schema=False, route_class=checked_body_route())


# Names and memos are one line of text; PostgreSQL refuses NUL in text outright.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"


class CreateKeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200, pattern=NO_CONTROL_CHARACTERS)


class GrantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_usd: str = Field(max_length=40)
    memo: str | None = Field(default=None, max_length=500, pattern=NO_CONTROL_CHARACTERS)


@router.get("/session")
async def get_session(session: SessionDep) -> JSONResponse:
    """Who is signed in, their account, and the CSRF token for state-changing calls."""
    user = session.user
    return JSONResponse({
        "user": {"id": user.id, "email": user.email, "is_operator": user.is_operator},
        "account": {"id": user.account_id, "name": user.account_name},
        "csrf_token": session.csrf_token,
        "expires_at": iso_time(session.expires_at),
    })


@router.get("/keys")
async def list_keys(runtime: RuntimeDep, session: SessionDep) -> JSONResponse:
    keys = await run_in_threadpool(dashboard.account_keys, runtime.db, session.user.account_id)
    return JSONResponse({"object": "list", "data": keys})


@router.post("/keys", status_code=201)
async def create_api_key(body: CreateKeyBody, runtime: RuntimeDep, session: CsrfSessionDep) -> JSONResponse:
    """A new key; the answer is the only place the key itself ever appears."""
    name = (body.name or "").strip() or None
    created = await run_in_threadpool(create_key, runtime.db, session.user.account_id, name=name)
    keys = await run_in_threadpool(dashboard.account_keys, runtime.db, session.user.account_id)
    listed = next(k for k in keys if k["id"] == created.id)
    return JSONResponse({**listed, "key": created.key}, status_code=201)


@router.delete("/keys/{key_id}")
async def revoke_api_key(key_id: str, runtime: RuntimeDep, session: CsrfSessionDep) -> JSONResponse:
    """Revoke one of the account's keys; another account's key (or a session's) is a 404."""
    revoked = await run_in_threadpool(dashboard.revoke_account_key, runtime.db, session.user.account_id, key_id)
    return JSONResponse(revoked)


@router.get("/ledger")
async def ledger(
    runtime: RuntimeDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> JSONResponse:
    """The account's ledger entries, newest first, each with the balance after it."""
    lines = await run_in_threadpool(dashboard.ledger, runtime.db, session.user.account_id, limit)
    return JSONResponse({"object": "list", "data": lines})


@router.get("/operator/accounts")
async def operator_accounts(runtime: RuntimeDep, session: OperatorDep) -> JSONResponse:
    return JSONResponse({"object": "list", "data": await run_in_threadpool(dashboard.all_accounts, runtime.db)})


@router.post("/operator/accounts/{account_id}/grants", status_code=201)
async def operator_grant(account_id: str, body: GrantBody, runtime: RuntimeDep, session: OperatorDep) -> JSONResponse:
    """Grant credit to an account (a ``grant`` ledger entry, as ``happyhorse credits add`` does)."""
    from happyhorse.billing.money import parse_usd

    try:
        amount = parse_usd(body.amount_usd, param="amount_usd")
    except ValueError as error:
        raise InvalidRequest("invalid_amount", str(error), "amount_usd") from None
    memo = (body.memo or "").strip() or f"granted by {session.user.email} (dashboard)"
    granted = await run_in_threadpool(dashboard.grant, runtime.db, account_id, amount, memo)
    return JSONResponse(granted, status_code=201)
