"""Dependencies for route handlers: the runtime and the calling account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from happyhorse.accounts import Account, authenticate
from happyhorse.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_account(request: Request) -> Account:
    runtime: Runtime = request.app.state.runtime
    return await run_in_threadpool(authenticate, runtime.db, request.headers.get("authorization"))


CurrentAccount = Annotated[Account, Depends(get_account)]


def base_url(request: Request) -> str:
    """Where clients reach this API: the operator's public URL, else the request's own."""
    configured = request.app.state.runtime.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")
