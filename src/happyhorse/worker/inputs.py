"""A job's input images, as the worker gets them: stored uploads (or fetched URLs).

Image URLs are fetched and stored at submit (:mod:`happyhorse.submit.service`), so
a job's inputs are uploads; only jobs queued before that rule still carry URLs,
and those are fetched here. Bytes are checked against the same rules as at
submit (SPEC §3); anything wrong becomes an :class:`InputError`, which fails
the job with ``invalid_image``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from happyhorse.errors import ServiceError
from happyhorse.inputs.fetch import FetchError, fetch_url
from happyhorse.inputs.images import decode_image, inspect_image
from happyhorse.jobs.model import Job
from happyhorse.jobs.request import JobInput
from happyhorse.runtime import Runtime
from happyhorse.inputs.uploads import get_upload


@dataclass
class InputError(Exception):
    message: str


def load_inputs(runtime: Runtime, job: Job) -> list[np.ndarray]:
    """Decoded RGB arrays of the job's images, in request order."""
    inputs = job.request.inputs
    images = []
    for index, source in enumerate(inputs):
        param = "image" if len(inputs) == 1 else f"image[{index}]"
        data = _read(runtime, job, source, param)
        try:
            inspect_image(data, param=param, max_bytes=runtime.settings.max_image_bytes)
            images.append(decode_image(data))
        except ServiceError as exc:
            raise InputError(exc.message) from None
    return images


def _read(runtime: Runtime, job: Job, source: JobInput, param: str) -> bytes:
    if source.kind == "upload":
        with runtime.db.connect().execution_options(readonly=True) as conn:
            upload = get_upload(conn, job.account_id, str(source.upload_id), param=param)
        return runtime.storage.get_bytes(upload.storage_key)
    settings = runtime.settings
    try:
        return fetch_url(
            str(source.url),
            max_bytes=settings.max_image_bytes,
            timeout_seconds=settings.fetch_timeout_seconds,
            allow_private=settings.allow_private_fetch,
        ).bytes
    except FetchError as exc:
        raise InputError(f"{param}: {exc.message}") from None
