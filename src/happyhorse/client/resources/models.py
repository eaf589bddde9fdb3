"""``client.models``: the model card — modes, limits, prices, and the engine that serves it."""

from __future__ import annotations

from pydantic import BaseModel

from happyhorse.client._base_client import RequestOptions, parse_response
from happyhorse.client._models import Model
from happyhorse.client._resource import AsyncAPIResource, SyncAPIResource

DEFAULT_MODEL = "happyhorse-1-1"


class _ModelList(BaseModel):
    data: list[Model]


class Models(SyncAPIResource):
    """The models this server serves."""

    def list(self) -> list[Model]:
        """Every served model (one today, ``happyhorse-1-1``)."""
        return parse_response(_ModelList, self._client.request(RequestOptions("GET", "/v1/models"))).data

    def retrieve(self, model: str = DEFAULT_MODEL) -> Model:
        """One model card, by id or alias; NotFoundError if it is not served here."""
        return parse_response(Model, self._client.request(RequestOptions("GET", f"/v1/models/{model}")))


class AsyncModels(AsyncAPIResource):
    """The models this server serves (async)."""

    async def list(self) -> list[Model]:
        """Every served model (one today, ``happyhorse-1-1``)."""
        return parse_response(_ModelList, await self._client.request(RequestOptions("GET", "/v1/models"))).data

    async def retrieve(self, model: str = DEFAULT_MODEL) -> Model:
        """One model card, by id or alias; NotFoundError if it is not served here."""
        return parse_response(Model, await self._client.request(RequestOptions("GET", f"/v1/models/{model}")))
