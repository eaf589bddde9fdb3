"""``client.account``: the caller's credit balance, what is held for running jobs, and this month's spend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from happyhorse.client._base_client import RequestOptions, parse_response
from happyhorse.client._models import Account

if TYPE_CHECKING:
    from happyhorse.client._client import AsyncClient, Client


class AccountResource:
    """The account the API key belongs to."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def retrieve(self) -> Account:
        """Balance, holds and this month's spend (``GET /v1/account``)."""
        return parse_response(Account, self._client.request(RequestOptions("GET", "/v1/account")))


class AsyncAccountResource:
    """The account the API key belongs to (async)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def retrieve(self) -> Account:
        """Balance, holds and this month's spend (``GET /v1/account``)."""
        return parse_response(Account, await self._client.request(RequestOptions("GET", "/v1/account")))
