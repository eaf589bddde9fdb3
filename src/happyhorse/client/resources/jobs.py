"""``client.jobs``: retrieve, list (auto-paginating), cancel, wait and download."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, assert_never

import httpx

from happyhorse.client._base_client import RequestOptions, parse_response
from happyhorse.client._exceptions import (
    APIConnectionError,
    JobCancelledError,
    JobFailedError,
    WaitTimeoutError,
)
from happyhorse.client._models import Job, JobDeleted, JobList
# Re-exported: the pagers were defined here, and ``resources.jobs.JobPager`` still names them.
from happyhorse.client._pagination import AsyncJobPager as AsyncJobPager
from happyhorse.client._pagination import JobPager as JobPager
from happyhorse.client._resource import AsyncAPIResource, SyncAPIResource

Variant = Literal["video", "poster"]
ProgressCallback = Callable[[Job], object]
"""Called with the job whenever its status, progress or queue position changes (and once at the start)."""

DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_PAGE_SIZE = 20


def job_id_of(job: Job | str) -> str:
    """The id of a Job, or the string itself."""
    return job.job_id if isinstance(job, Job) else job


def completed_or_raise(job: Job) -> Job:
    """``job`` if it ``completed``; JobFailedError or JobCancelledError if it ended otherwise.

    For a job that has ended (:attr:`Job.is_terminal`): one still going on is a ValueError."""
    match job.status:
        case "completed":
            return job
        case "failed":
            raise JobFailedError(job)
        case "cancelled":
            raise JobCancelledError(job)
        case "queued" | "running":
            raise ValueError(f"job {job.job_id} has not ended: it is {job.status}")
        case _:
            assert_never(job.status)


def _changed(before: Job | None, now: Job) -> bool:
    return before is None or (before.status, before.progress, before.queue_position) != (
        now.status,
        now.progress,
        now.queue_position,
    )


def _download_target(path: str | os.PathLike[str] | None, job_id: str, variant: Variant) -> Path:
    default_name = f"{job_id}.{'mp4' if variant == 'video' else 'jpg'}"
    if path is None:
        return Path(default_name)
    target = Path(path).expanduser()
    return target / default_name if target.is_dir() else target


def _content_options(job_id: str, variant: Variant) -> RequestOptions:
    # The endpoint answers 307 to a freshly signed file URL on the same server.
    return RequestOptions("GET", f"/v1/jobs/{job_id}/content", params={"variant": variant}, follow_redirects=True)


def _part_path(target: Path) -> Path:
    # Written next to the target and renamed at the end: a partial download never looks complete.
    return target.with_name(f".{target.name}.{os.getpid()}.part")


class Jobs(SyncAPIResource):
    """The caller's jobs."""

    def retrieve(self, job: Job | str) -> Job:
        """The job as it is now (output URLs freshly signed)."""
        response = self._client.request(RequestOptions("GET", f"/v1/jobs/{job_id_of(job)}"))
        return parse_response(Job, response)

    def list(self, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None) -> JobPager:
        """Every job of the account, newest first; pages of ``limit`` (1-100) are fetched as you iterate."""
        return JobPager(self._page, limit=limit, after=after)

    def _page(self, limit: int, after: str | None) -> JobList:
        params = {"limit": limit, **({"after": after} if after else {})}
        return parse_response(JobList, self._client.request(RequestOptions("GET", "/v1/jobs", params=params)))

    def cancel(self, job: Job | str) -> Job:
        """Cancel a queued job (at once) or a running one (at the engine's next step).

        Returns the job as it is after the request; a running job may still read ``running``.
        Cancelling a job that already ended raises ConflictError."""
        response = self._client.request(RequestOptions("POST", f"/v1/jobs/{job_id_of(job)}/cancel"))
        return parse_response(Job, response)

    def delete(self, job: Job | str) -> JobDeleted:
        """Delete an ended job: its video, poster and input images; its charges stay in the ledger.
        A queued or running job raises ConflictError (``job_not_ended``: cancel it first);
        afterwards the job is NotFoundError."""
        return parse_response(JobDeleted, self._client.request(RequestOptions("DELETE", f"/v1/jobs/{job_id_of(job)}")))

    def wait(
        self,
        job: Job | str,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Job:
        """Poll until the job ends and return it completed.

        Raises JobFailedError (with the server's ``code`` and ``message``) if it failed,
        JobCancelledError if it was cancelled, WaitTimeoutError after ``timeout`` seconds
        (``None``: no limit; the job itself goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_seen: Job | None = None
        while True:
            current = self.retrieve(job)
            if on_progress is not None and _changed(last_seen, current):
                on_progress(current)
            last_seen = current
            if current.is_terminal:
                return completed_or_raise(current)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeoutError(current, timeout or 0.0)
                time.sleep(min(poll_interval, remaining))
            else:
                time.sleep(poll_interval)

    def download(
        self, job: Job | str, path: str | os.PathLike[str] | None = None, *, variant: Variant = "video"
    ) -> Path:
        """Stream a completed job's MP4 (or its JPEG ``poster``) to ``path`` and return the path written.

        ``path`` may be a file or an existing directory (the file is then ``<job_id>.mp4``/``.jpg``);
        ``None`` means that name in the current directory. A job not completed raises ConflictError."""
        job_id = job_id_of(job)
        target = _download_target(path, job_id, variant)
        part = _part_path(target)
        response = self._client.request(_content_options(job_id, variant), stream=True)
        try:
            with open(part, "wb") as file:
                for chunk in response.iter_bytes(1 << 16):
                    file.write(chunk)
            os.replace(part, target)
        except httpx.TransportError as exc:
            raise APIConnectionError(request=response.request, message=f"download of {job_id} broke off: {exc}") from exc
        finally:
            response.close()
            part.unlink(missing_ok=True)
        return target


class AsyncJobs(AsyncAPIResource):
    """The caller's jobs (async)."""

    async def retrieve(self, job: Job | str) -> Job:
        """The job as it is now (output URLs freshly signed)."""
        response = await self._client.request(RequestOptions("GET", f"/v1/jobs/{job_id_of(job)}"))
        return parse_response(Job, response)

    def list(self, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None) -> AsyncJobPager:
        """Every job of the account, newest first, for ``async for``; pages are fetched as you iterate."""
        return AsyncJobPager(self._page, limit=limit, after=after)

    async def _page(self, limit: int, after: str | None) -> JobList:
        params = {"limit": limit, **({"after": after} if after else {})}
        return parse_response(JobList, await self._client.request(RequestOptions("GET", "/v1/jobs", params=params)))

    async def cancel(self, job: Job | str) -> Job:
        """Cancel a queued or running job; see :meth:`Jobs.cancel`."""
        response = await self._client.request(RequestOptions("POST", f"/v1/jobs/{job_id_of(job)}/cancel"))
        return parse_response(Job, response)

    async def delete(self, job: Job | str) -> JobDeleted:
        """Delete an ended job; see :meth:`Jobs.delete`."""
        response = await self._client.request(RequestOptions("DELETE", f"/v1/jobs/{job_id_of(job)}"))
        return parse_response(JobDeleted, response)

    async def wait(
        self,
        job: Job | str,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Job:
        """Poll until the job ends and return it completed; raises as :meth:`Jobs.wait` does.

        ``on_progress`` may be a plain function or a coroutine function."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_seen: Job | None = None
        while True:
            current = await self.retrieve(job)
            if on_progress is not None and _changed(last_seen, current):
                outcome = on_progress(current)
                if inspect.isawaitable(outcome):
                    await outcome
            last_seen = current
            if current.is_terminal:
                return completed_or_raise(current)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeoutError(current, timeout or 0.0)
                await asyncio.sleep(min(poll_interval, remaining))
            else:
                await asyncio.sleep(poll_interval)

    async def download(
        self, job: Job | str, path: str | os.PathLike[str] | None = None, *, variant: Variant = "video"
    ) -> Path:
        """Stream a completed job's MP4 (or ``poster``) to ``path``; see :meth:`Jobs.download`."""
        job_id = job_id_of(job)
        target = _download_target(path, job_id, variant)
        part = _part_path(target)
        response = await self._client.request(_content_options(job_id, variant), stream=True)
        try:
            # Local disk writes are short and sequential; not worth a thread per chunk.
            with open(part, "wb") as file:
                async for chunk in response.aiter_bytes(1 << 16):
                    file.write(chunk)
            os.replace(part, target)
        except httpx.TransportError as exc:
            raise APIConnectionError(request=response.request, message=f"download of {job_id} broke off: {exc}") from exc
        finally:
            await response.aclose()
            part.unlink(missing_ok=True)
        return target
