"""Accepting a job: images checked and stored, then one transaction writes the job.

Image bytes that are at hand (data URIs, multipart parts, earlier uploads) are
checked here, before the job is accepted; URLs are checked for syntax now and
fetched by the worker, which fails the job with ``invalid_image`` if they are bad.
"""

from __future__ import annotations

from dataclasses import dataclass

from happyhorse.generation_request import GenerationRequest
from happyhorse.ids import new_id
from happyhorse.inputs.datauri import parse_data_uri
from happyhorse.inputs.fetch import validate_image_url
from happyhorse.inputs.images import ImageInfo
from happyhorse.jobs import queries
from happyhorse.jobs.model import Job
from happyhorse.media.sizes import frame_size, nearest_aspect_ratio
from happyhorse.runtime import Runtime
from happyhorse.uploads import get_upload, insert_upload, store_image


@dataclass(frozen=True)
class _NewImage:
    upload_id: str
    data: bytes
    info: ImageInfo


def submit_generation(
    runtime: Runtime, account_id: str, request: GenerationRequest, parts: list[bytes]
) -> tuple[Job, int | None]:
    """Check the request's images and queue the job; returns the job and its
    queue position as of the insert (a worker may claim it a moment later)."""
    max_bytes = runtime.settings.max_image_bytes
    new_images: dict[int, _NewImage] = {}
    for index, ref in enumerate(request.images):
        if ref.kind == "data_uri":
            data = parse_data_uri(ref.value, param=ref.param, max_bytes=max_bytes)
        elif ref.kind == "part":
            data = parts[int(ref.value)]
        else:
            if ref.kind == "url":
                validate_image_url(ref.value, param=ref.param)
            continue
        upload_id, info = store_image(runtime.storage, data, param=ref.param, max_bytes=max_bytes)
        new_images[index] = _NewImage(upload_id, data, info)

    job_id = new_id("job")
    with runtime.db.begin() as conn:
        inputs: list[dict] = []
        sizes: list[tuple[int, int] | None] = []
        for index, ref in enumerate(request.images):
            if index in new_images:
                image = new_images[index]
                insert_upload(conn, image.upload_id, account_id, image.data, image.info)
                inputs.append({"kind": "upload", "upload_id": image.upload_id})
                sizes.append((image.info.width, image.info.height))
            elif ref.kind == "upload":
                upload = get_upload(conn, account_id, ref.value, param=ref.param)
                inputs.append({"kind": "upload", "upload_id": upload.id})
                sizes.append((upload.width, upload.height))
            else:
                inputs.append({"kind": "url", "url": ref.value})
                sizes.append(None)
        runtime.queue.insert_job(
            conn,
            job_id=job_id,
            account_id=account_id,
            model=request.model,
            request=stored_request(request, inputs, sizes[0] if request.mode == "i2v" else None),
        )
        job = queries.get_job(conn, job_id, account_id)
        position = queries.queue_positions(conn, [job]).get(job_id)
    return job, position


def stored_request(request: GenerationRequest, inputs: list[dict], source_size: tuple[int, int] | None) -> dict:
    """The request as kept on the job row. For i2v the aspect ratio follows the
    source image: known now for uploaded bytes, else set by the worker."""
    aspect_ratio: str | None = request.aspect_ratio
    if request.mode == "i2v":
        aspect_ratio = nearest_aspect_ratio(*source_size) if source_size else None
    width, height = frame_size(aspect_ratio, request.resolution) if aspect_ratio else (None, None)
    return {
        "mode": request.mode,
        "prompt": request.prompt,
        "aspect_ratio": aspect_ratio,
        "resolution": request.resolution,
        "duration": request.duration,
        "seed": request.seed,
        "watermark": request.watermark,
        "width": width,
        "height": height,
        "inputs": inputs,
    }
