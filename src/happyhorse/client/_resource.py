"""The base of every resource (``client.videos``, ``client.jobs`` …): it holds the client it sends through."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for annotations: _client imports the resources, which import this module.
    from happyhorse.client._client import AsyncClient, Client

__all__ = ["AsyncAPIResource", "SyncAPIResource"]


class SyncAPIResource:
    """A group of API calls made through one :class:`~happyhorse.Client` (its settings, retries and pool)."""

    _client: Client

    def __init__(self, client: Client) -> None:
        self._client = client


class AsyncAPIResource:
    """A group of API calls made through one :class:`~happyhorse.AsyncClient` (its settings, retries and pool)."""

    _client: AsyncClient

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
