"""Cursor pagination: iterate over every item of a list endpoint, fetching pages as they run out.

A list endpoint (``GET /v1/jobs``) answers one page at a time: ``data``, ``has_more``
and ``last_id``; the next page is asked for with ``after=<last_id>``. A pager holds
the function that fetches one page, ``fetch(limit, after)``, and calls it only as
the caller iterates: nothing is fetched before the first item is asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Generic, Protocol, TypeVar

from happyhorse.client._models import Job, JobList

__all__ = ["AsyncJobPager", "AsyncPager", "CursorPage", "JobPager", "SyncPager"]

ItemT = TypeVar("ItemT")
ItemT_co = TypeVar("ItemT_co", covariant=True)


class CursorPage(Protocol[ItemT_co]):
    """What a pager needs of a page: its items, whether more follow, and the cursor for the next."""

    @property
    def data(self) -> Sequence[ItemT_co]: ...

    @property
    def has_more(self) -> bool: ...

    @property
    def last_id(self) -> str | None: ...


PageT = TypeVar("PageT", bound=CursorPage[Any])


def _next_cursor(page: CursorPage[Any]) -> str | None:
    """The ``after`` of the page that follows ``page``; ``None`` when it is the last one."""
    return page.last_id if page.has_more and page.last_id else None


class SyncPager(Generic[PageT, ItemT]):
    """Every item of a list, for ``for``; each page is one ``fetch(limit, after)`` call.

    Fetching stops after the first page whose ``has_more`` is false (or that has no ``last_id``).
    A pager may be iterated again: each iteration starts over from ``after``."""

    def __init__(self, fetch: Callable[[int, str | None], PageT], *, limit: int, after: str | None) -> None:
        self._fetch = fetch
        self._limit = limit
        self._after = after

    def __iter__(self) -> Iterator[ItemT]:
        for page in self.pages():
            yield from page.data

    def pages(self) -> Iterator[PageT]:
        """The pages themselves, one request each."""
        after = self._after
        while True:
            page = self._fetch(self._limit, after)
            yield page
            after = _next_cursor(page)
            if after is None:
                return


class AsyncPager(Generic[PageT, ItemT]):
    """Every item of a list, for ``async for``; each page is one awaited ``fetch(limit, after)`` call.

    Stops as :class:`SyncPager` does."""

    def __init__(
        self, fetch: Callable[[int, str | None], Awaitable[PageT]], *, limit: int, after: str | None
    ) -> None:
        self._fetch = fetch
        self._limit = limit
        self._after = after

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        async for page in self.pages():
            for item in page.data:
                yield item

    async def pages(self) -> AsyncIterator[PageT]:
        """The pages themselves, one request each."""
        after = self._after
        while True:
            page = await self._fetch(self._limit, after)
            yield page
            after = _next_cursor(page)
            if after is None:
                return


class JobPager(SyncPager[JobList, Job]):
    """``for job in client.jobs.list()``: every job, newest first, fetching pages as they run out."""


class AsyncJobPager(AsyncPager[JobList, Job]):
    """``async for job in client.jobs.list()``: every job, newest first, fetching pages as they run out."""
