"""``GET /v1/account``: the caller's balance, holds and spend this month."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from happyhorse.api.deps import CurrentAccount, RuntimeDep, read_db
from happyhorse.api.schemas import AccountObject, error_responses
from happyhorse.billing.account import account_summary

router = APIRouter(tags=["account"])


@router.get(
    "/v1/account",
    response_model=AccountObject,
    summary="The caller's credit balance, holds and spend",
    responses=error_responses(401, 429, 503),
)
async def get_account(runtime: RuntimeDep, account: CurrentAccount) -> JSONResponse:
    """Amounts are decimal strings in USD. ``available_usd`` = ``balance_usd`` − ``held_usd``
    (the prices of the account's queued and running jobs) is what new jobs may spend;
    ``spent_this_month_usd`` sums the jobs charged since the start of the month (UTC)."""
    summary = await read_db(runtime, lambda: account_summary(runtime.db, account.id, account.name))
    return JSONResponse(summary.to_dict())
