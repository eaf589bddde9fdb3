"""``client.account``: the caller's credit balance, what is held for running jobs, and this month's spend."""

from __future__ import annotations

from happyhorse.client._base_client import RequestOptions, parse_response
from happyhorse.client._models import Account
from happyhorse.client._resource import AsyncAPIResource, SyncAPIResource


class AccountResource(SyncAPIResource):
    """The account the API key belongs to."""

    def retrieve(self) -> Account:
        """Balance, holds and this month's spend (``GET /v1/account``)."""
        return parse_response(Account, self._client.request(RequestOptions("GET", "/v1/account")))


class AsyncAccountResource(AsyncAPIResource):
    """The account the API key belongs to (async)."""

    async def retrieve(self) -> Account:
        """Balance, holds and this month's spend (``GET /v1/account``)."""
        return parse_response(Account, await self._client.request(RequestOptions("GET", "/v1/account")))
