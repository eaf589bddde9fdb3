"""Dependencies for route handlers: the runtime and the calling account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from happyhorse.accounts import Account, authenticate
from happyhorse.api.allowed_hosts import well_formed_host
from happyhorse.logs import bind
from happyhorse.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_account(request: Request) -> Account:
    """The account of the request's API key (401 otherwise), bound to the request's log lines."""
    runtime: Runtime = request.app.state.runtime
    account = await run_in_threadpool(authenticate, runtime.db, request.headers.get("authorization"))
    bind(account_id=account.id)
    return account


CurrentAccount = Annotated[Account, Depends(get_account)]


T = TypeVar("T")


async def read_db(runtime: Runtime, read: Callable[[], T]) -> T:
    """Run a short *read* against the database.

    On SQLite a read-only query takes tens of microseconds and never waits for
    writers (WAL), so it runs inline: the hop to a worker thread would cost
    more than the query. Over a network (PostgreSQL) it runs in the thread pool.
    Writes always go to the thread pool: they may wait for the write lock."""
    if runtime.db.dialect.name == "sqlite":
        return read()
    return await run_in_threadpool(read)


def base_url(request: Request) -> str:
    """Where clients reach this API: the operator's public URL, else the request's own."""
    configured = request.app.state.runtime.settings.public_base_url
    if configured:
        return configured.rstrip("/")
    # Starlette's request.base_url builds a URL object; this is on the polling path.
    scope = request.scope
    host = request.headers.get("host")
    if not host or not well_formed_host(host):  # never a URL whose host the client spelled oddly
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}".rstrip("/")
