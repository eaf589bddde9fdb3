"""The pagers alone, over a fake fetch function: pages on demand, ``after`` from ``last_id``, stop on ``has_more``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import happyhorse
from happyhorse.client._pagination import AsyncJobPager, AsyncPager, JobPager, SyncPager
from happyhorse.client.resources import AsyncJobPager as ExportedAsyncJobPager
from happyhorse.client.resources import JobPager as ExportedJobPager
from happyhorse.client.resources.jobs import AsyncJobPager as JobsModuleAsyncJobPager
from happyhorse.client.resources.jobs import JobPager as JobsModuleJobPager

REQUEST = {"mode": "t2v", "prompt": "p", "aspect_ratio": "16:9", "resolution": "720p", "duration": 5, "seed": 1,
           "watermark": False, "images": 0}


def _job(number: int) -> happyhorse.Job:
    return happyhorse.Job.model_validate({
        "job_id": f"job_{number:03d}", "model": "happyhorse-1-1", "status": "queued", "progress": 0,
        "created_at": datetime(2025, 1, 1, tzinfo=UTC).isoformat(), "request": REQUEST,
    })


class FakeJobs:
    """``GET /v1/jobs`` over ``count`` jobs (newest first), recording each call's ``(limit, after)``."""

    def __init__(self, count: int) -> None:
        self.jobs = [_job(number) for number in range(count, 0, -1)]
        self.calls: list[tuple[int, str | None]] = []

    def fetch(self, limit: int, after: str | None) -> happyhorse.JobList:
        self.calls.append((limit, after))
        start = 0 if after is None else [job.job_id for job in self.jobs].index(after) + 1
        data = self.jobs[start:start + limit]
        has_more = start + limit < len(self.jobs)
        return happyhorse.JobList(data=data, has_more=has_more, last_id=data[-1].job_id if data else None)

    async def afetch(self, limit: int, after: str | None) -> happyhorse.JobList:
        return self.fetch(limit, after)


def test_the_job_pagers_keep_their_names_and_import_paths() -> None:
    assert JobPager is ExportedJobPager is JobsModuleJobPager and issubclass(JobPager, SyncPager)
    assert AsyncJobPager is ExportedAsyncJobPager is JobsModuleAsyncJobPager and issubclass(AsyncJobPager, AsyncPager)


def test_sync_pager_walks_every_page_passing_limit_and_after() -> None:
    fake = FakeJobs(7)
    pager = JobPager(fake.fetch, limit=3, after=None)
    assert fake.calls == []  # nothing is fetched before iteration
    assert [job.job_id for job in pager] == [job.job_id for job in fake.jobs]
    assert fake.calls == [(3, None), (3, "job_005"), (3, "job_002")]


def test_sync_pager_pages_and_a_starting_cursor() -> None:
    fake = FakeJobs(7)
    pages = list(JobPager(fake.fetch, limit=2, after="job_006").pages())
    assert [[job.job_id for job in page.data] for page in pages] == [["job_005", "job_004"], ["job_003", "job_002"],
                                                                     ["job_001"]]
    assert [page.has_more for page in pages] == [True, True, False]
    assert fake.calls == [(2, "job_006"), (2, "job_004"), (2, "job_002")]


def test_sync_pager_stops_when_has_more_is_false_even_on_a_full_page() -> None:
    fake = FakeJobs(4)
    assert len(list(JobPager(fake.fetch, limit=2, after=None).pages())) == 2
    assert fake.calls == [(2, None), (2, "job_003")]  # no third request for an empty page


def test_sync_pager_stops_on_a_page_without_last_id() -> None:
    calls: list[str | None] = []

    def fetch(limit: int, after: str | None) -> happyhorse.JobList:
        calls.append(after)
        return happyhorse.JobList(data=[], has_more=True, last_id=None)

    assert list(JobPager(fetch, limit=5, after=None)) == [] and calls == [None]


def test_sync_pager_fetches_lazily() -> None:
    fake = FakeJobs(9)
    first = next(iter(JobPager(fake.fetch, limit=4, after=None)))
    assert first.job_id == "job_009" and fake.calls == [(4, None)]


@pytest.mark.anyio
async def test_async_pager_walks_every_page_passing_limit_and_after() -> None:
    fake = FakeJobs(7)
    pager = AsyncJobPager(fake.afetch, limit=3, after=None)
    assert [job.job_id async for job in pager] == [job.job_id for job in fake.jobs]
    assert fake.calls == [(3, None), (3, "job_005"), (3, "job_002")]


@pytest.mark.anyio
async def test_async_pager_pages_stop_when_has_more_is_false() -> None:
    fake = FakeJobs(4)
    pages = [page async for page in AsyncJobPager(fake.afetch, limit=2, after="job_004").pages()]
    assert [[job.job_id for job in page.data] for page in pages] == [["job_003", "job_002"], ["job_001"]]
    assert fake.calls == [(2, "job_004"), (2, "job_002")]


def test_a_generic_pager_over_another_page_type() -> None:
    class Page:
        def __init__(self, data: list[int], has_more: bool, last_id: str | None) -> None:
            self.data, self.has_more, self.last_id = data, has_more, last_id

    def fetch(limit: int, after: str | None) -> Page:
        start = int(after or 0)
        return Page(list(range(start, min(start + limit, 5))), start + limit < 5, str(start + limit))

    assert list(SyncPager[Page, int](fetch, limit=2, after=None)) == [0, 1, 2, 3, 4]
