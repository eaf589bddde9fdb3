"""``Client`` and ``AsyncClient``: configuration plus the resources ``videos``, ``jobs``, ``models``, ``uploads``, ``account``."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

import httpx

from happyhorse.client._base_client import DEFAULT_MAX_RETRIES, AsyncAPIClient, SyncAPIClient
from happyhorse.client.resources.account import AccountResource, AsyncAccountResource
from happyhorse.client.resources.jobs import AsyncJobs, Jobs
from happyhorse.client.resources.models import AsyncModels, Models
from happyhorse.client.resources.uploads import AsyncUploads, Uploads
from happyhorse.client.resources.videos import AsyncVideos, Videos



class Client(SyncAPIClient):
    """A HappyHorse API client. Use it as a context manager (or call ``close()``) to free its connections.

    ``api_key`` defaults to ``$HAPPYHORSE_API_KEY``; ``base_url`` to ``$HAPPYHORSE_BASE_URL``,
    else ``http://127.0.0.1:8000``. ``timeout`` (seconds or an ``httpx.Timeout``) applies to
    each HTTP request, default 60 s (10 s to connect). ``max_retries`` bounds the retries of
    one call (408, in-flight 409, 429, 5xx, connection errors). ``http_client`` lets you
    bring a configured ``httpx.Client`` (proxies, transports); it is then yours to close."""

    videos: Videos
    jobs: Jobs
    models: Models
    uploads: Uploads
    account: AccountResource

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
            default_headers=default_headers, http_client=http_client,
        )
        self.videos = Videos(self)
        self.jobs = Jobs(self)
        self.models = Models(self)
        self.uploads = Uploads(self)
        self.account = AccountResource(self)

    def with_options(self, *, timeout: float | httpx.Timeout | None = None, max_retries: int | None = None) -> Client:
        """A client with other settings that shares this one's connection pool."""
        return Client(
            api_key=self.api_key, base_url=self.base_url, timeout=timeout or self.timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            default_headers=self._default_headers, http_client=self._http,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"


class AsyncClient(AsyncAPIClient):
    """The async twin of :class:`Client`: the same resources, whose methods are coroutines
    (``jobs.list`` returns an async iterator). Use ``async with`` (or ``await close()``)."""

    videos: AsyncVideos
    jobs: AsyncJobs
    models: AsyncModels
    uploads: AsyncUploads
    account: AsyncAccountResource

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
            default_headers=default_headers, http_client=http_client,
        )
        self.videos = AsyncVideos(self)
        self.jobs = AsyncJobs(self)
        self.models = AsyncModels(self)
        self.uploads = AsyncUploads(self)
        self.account = AsyncAccountResource(self)

    def with_options(
        self, *, timeout: float | httpx.Timeout | None = None, max_retries: int | None = None
    ) -> AsyncClient:
        """A client with other settings that shares this one's connection pool."""
        return AsyncClient(
            api_key=self.api_key, base_url=self.base_url, timeout=timeout or self.timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            default_headers=self._default_headers, http_client=self._http,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r})"
