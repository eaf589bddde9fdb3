"""``client.videos``: submit a generation (``generate``) and, optionally, wait for it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any, Literal

from happyhorse.client._base_client import RequestOptions, new_idempotency_key, parse_response
from happyhorse.client._files import FileToUpload, ImageInput, image_reference_or_file
from happyhorse.client._models import Job, Quote
from happyhorse.client._resource import AsyncAPIResource, SyncAPIResource
from happyhorse.client.resources.jobs import DEFAULT_POLL_INTERVAL, ProgressCallback

Mode = Literal["auto", "t2v", "i2v", "r2v"]
AspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4"]
Resolution = Literal["720p", "1080p"]
Images = ImageInput | Sequence[ImageInput] | None
"""One image or a list of up to nine (r2v); see :data:`happyhorse.client._files.ImageInput`."""


def _split_images(image: Images) -> tuple[list[ImageInput], bool]:
    """The images as a list, and whether the caller passed a list (sent back as a list, even of one)."""
    if image is None:
        return [], False
    if isinstance(image, (str, bytes, bytearray)) or not isinstance(image, Sequence):
        return [image], False  # type: ignore[list-item]
    return list(image), True


def _image_field(references: list[str], as_list: bool) -> str | list[str] | None:
    if as_list:
        return references
    return references[0] if references else None


def _body(prompt: str, image: str | list[str] | None, **fields: Any) -> dict[str, Any]:
    # Only what the caller set: the server's defaults (SPEC §3) apply to the rest.
    body: dict[str, Any] = {"prompt": prompt}
    if image is not None:
        body["image"] = image
    body.update({name: value for name, value in fields.items() if value is not None})
    return body


def _submit_options(body: dict[str, Any], idempotency_key: str | None) -> RequestOptions:
    # One key per generate call, reused by every retry of it: a retried submit never makes a second job.
    return RequestOptions(
        "POST", "/v1/videos/generations", json=body, idempotency_key=idempotency_key or new_idempotency_key()
    )


def _quote_reference(item: ImageInput) -> str:
    """A quote uploads nothing: a local file goes inline, as a data URI."""
    resolved = image_reference_or_file(item)
    if isinstance(resolved, FileToUpload):
        return f"data:{resolved.content_type};base64," + base64.b64encode(resolved.content).decode()
    return resolved


def _quote_options(prompt: str, image: Images, fields: dict[str, Any]) -> RequestOptions:
    images, as_list = _split_images(image)
    body = _body(prompt, _image_field([_quote_reference(item) for item in images], as_list), **fields)
    return RequestOptions("POST", "/v1/videos/generations/quote", json=body)


class Videos(SyncAPIResource):
    """Video generation."""

    def quote(
        self,
        *,
        prompt: str,
        image: Images = None,
        mode: Mode | None = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Resolution | None = None,
        duration: int | None = None,
        seed: int | None = None,
        watermark: bool | None = None,
        model: str | None = None,
    ) -> Quote:
        """What :meth:`generate` with these arguments would cost, whether the balance covers it and
        when it would be done; the server checks every rule (same errors) and submits, holds and
        stores nothing (local images are sent inline, not uploaded; image URLs are not fetched)."""
        fields = dict(mode=mode, aspect_ratio=aspect_ratio, resolution=resolution, duration=duration, seed=seed,
                      watermark=watermark, model=model)
        return parse_response(Quote, self._client.request(_quote_options(prompt, image, fields)))

    def generate(
        self,
        *,
        prompt: str,
        image: Images = None,
        mode: Mode | None = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Resolution | None = None,
        duration: int | None = None,
        seed: int | None = None,
        watermark: bool | None = None,
        model: str | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submit a job and return it at once (status ``queued``); wait with ``client.jobs.wait(job)``.

        ``image`` is one image or a list (r2v: up to nine, ``character1``… in the prompt name
        them in order). Each is a URL, data URI, upload id or :class:`Upload` (sent as they are),
        or a local path, bytes, binary file object or PIL image (uploaded first, for you).
        Unset arguments take the server's defaults: mode ``auto``, 16:9, 720p, 5 s, a random
        seed, no watermark. Pass ``idempotency_key`` to make your own retries safe too."""
        images, as_list = _split_images(image)
        references = [self._reference(item) for item in images]
        body = _body(
            prompt,
            _image_field(references, as_list),
            mode=mode, aspect_ratio=aspect_ratio, resolution=resolution, duration=duration, seed=seed,
            watermark=watermark, model=model,
        )
        return parse_response(Job, self._client.request(_submit_options(body, idempotency_key)))

    def _reference(self, item: ImageInput) -> str:
        resolved = image_reference_or_file(item)
        if isinstance(resolved, FileToUpload):
            return self._client.uploads.create(resolved).upload_id  # type: ignore[arg-type]
        return resolved

    def generate_and_wait(
        self,
        *,
        prompt: str,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **generate_args: Any,
    ) -> Job:
        """:meth:`generate`, then :meth:`Jobs.wait <happyhorse.client.resources.jobs.Jobs.wait>`:
        the completed job, or JobFailedError / JobCancelledError / WaitTimeoutError."""
        job = self.generate(prompt=prompt, **generate_args)
        return self._client.jobs.wait(job, on_progress=on_progress, timeout=timeout, poll_interval=poll_interval)


class AsyncVideos(AsyncAPIResource):
    """Video generation (async)."""

    async def quote(
        self,
        *,
        prompt: str,
        image: Images = None,
        mode: Mode | None = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Resolution | None = None,
        duration: int | None = None,
        seed: int | None = None,
        watermark: bool | None = None,
        model: str | None = None,
    ) -> Quote:
        """A quote for :meth:`generate`; see :meth:`Videos.quote`."""
        fields = dict(mode=mode, aspect_ratio=aspect_ratio, resolution=resolution, duration=duration, seed=seed,
                      watermark=watermark, model=model)
        return parse_response(Quote, await self._client.request(_quote_options(prompt, image, fields)))

    async def generate(
        self,
        *,
        prompt: str,
        image: Images = None,
        mode: Mode | None = None,
        aspect_ratio: AspectRatio | None = None,
        resolution: Resolution | None = None,
        duration: int | None = None,
        seed: int | None = None,
        watermark: bool | None = None,
        model: str | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submit a job and return it at once; see :meth:`Videos.generate`. Files upload concurrently."""
        images, as_list = _split_images(image)
        references = list(await asyncio.gather(*(self._reference(item) for item in images)))
        body = _body(
            prompt,
            _image_field(references, as_list),
            mode=mode, aspect_ratio=aspect_ratio, resolution=resolution, duration=duration, seed=seed,
            watermark=watermark, model=model,
        )
        return parse_response(Job, await self._client.request(_submit_options(body, idempotency_key)))

    async def _reference(self, item: ImageInput) -> str:
        resolved = image_reference_or_file(item)
        if isinstance(resolved, FileToUpload):
            return (await self._client.uploads.create(resolved)).upload_id  # type: ignore[arg-type]
        return resolved

    async def generate_and_wait(
        self,
        *,
        prompt: str,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **generate_args: Any,
    ) -> Job:
        """:meth:`generate`, then wait: the completed job, or JobFailedError / JobCancelledError /
        WaitTimeoutError."""
        job = await self.generate(prompt=prompt, **generate_args)
        return await self._client.jobs.wait(job, on_progress=on_progress, timeout=timeout, poll_interval=poll_interval)
