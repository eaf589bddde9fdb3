"""A quote (``POST /v1/videos/generations/quote``, SPEC §11): what a submit would cost and
when it would be done, with every rule of §3 applied and nothing written.

The request goes through the submit's own parsing (:func:`parse_generation_request`)
and checks (served mode, URL syntax and policy, the image rules on the bytes at hand),
so a quote fails exactly as the submit would. Nothing is created, held or stored:

- data URIs and multipart parts are checked in memory (:func:`inspect_image`);
- ``upload_id`` images are read, not marked used;
- image URLs are checked (syntax, the server's policy) but **not fetched**: a
  quote never makes the server download anything. For an i2v request from a
  URL the output's aspect ratio and size follow an image not seen yet, so
  ``request.aspect_ratio``, ``width`` and ``height`` are ``null``; the price
  does not depend on them. The image itself is checked when submitted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from happyhorse.billing.ledger import read_balances
from happyhorse.billing.money import format_usd
from happyhorse.billing.usage import Usage
from happyhorse.db.schema import jobs
from happyhorse.inputs.datauri import parse_data_uri
from happyhorse.inputs.fetch import validate_image_url
from happyhorse.inputs.images import inspect_image
from happyhorse.inputs.uploads import get_upload
from happyhorse.inputs.url_inputs import ensure_urls_accepted
from happyhorse.jobs.status import Status
from happyhorse.rules import output_geometry
from happyhorse.runtime import Runtime
from happyhorse.submit.request import GenerationRequest
from happyhorse.submit.served_modes import ensure_mode_served


def quote_generation(
    runtime: Runtime, account_id: str, request: GenerationRequest, parts: list[bytes], *, seed_given: bool
) -> dict[str, Any]:
    """The quote's wire object; raises the submit's errors, except that a short balance is
    ``affordable: false`` rather than a 402."""
    ensure_mode_served(runtime, request.mode)
    for ref in request.images:
        if ref.kind == "url":
            validate_image_url(ref.value, param=ref.param)
    ensure_urls_accepted(runtime.settings, [ref.param for ref in request.images if ref.kind == "url"])
    sizes = _image_sizes(runtime, account_id, request, parts)
    price = Usage.quote(request.resolution, request.duration)
    with runtime.db.connect().execution_options(readonly=True) as conn:
        available = read_balances(conn, account_id).available
        queued = conn.execute(
            select(func.count()).select_from(jobs).where(jobs.c.status == Status.QUEUED.value)
        ).scalar_one()
    speed = runtime.speed.speed()
    source = sizes[0] if request.mode == "i2v" else None
    geometry = None if request.mode == "i2v" and source is None else output_geometry(
        request.mode, request.aspect_ratio, request.resolution, source)
    return {
        "object": "video.generation.quote",
        "price_usd": format_usd(price.cost),
        "billed_seconds": price.billed_seconds,
        "unit_price_usd": format_usd(price.unit_price),
        "available_usd": format_usd(available),
        "affordable": available >= price.cost,
        "eta_seconds": speed.queued_eta(int(queued) + 1, request.resolution, request.duration),
        "request": {
            "model": request.model,
            "mode": request.mode,
            "prompt": request.prompt,
            "aspect_ratio": None if geometry is None else geometry.aspect_ratio,
            "resolution": request.resolution,
            "duration": request.duration,
            "seed": request.seed if seed_given else None,
            "watermark": request.watermark,
            "images": len(request.images),
            "width": None if geometry is None else geometry.width,
            "height": None if geometry is None else geometry.height,
        },
    }


def _image_sizes(
    runtime: Runtime, account_id: str, request: GenerationRequest, parts: list[bytes]
) -> list[tuple[int, int] | None]:
    """Each image's (width, height) where its bytes are at hand (None for a URL), checked by the image rules."""
    max_bytes = runtime.settings.max_image_bytes
    sizes: list[tuple[int, int] | None] = []
    for ref in request.images:
        if ref.kind == "url":
            sizes.append(None)
            continue
        if ref.kind == "upload":
            with runtime.db.connect().execution_options(readonly=True) as conn:
                upload = get_upload(conn, account_id, ref.value, param=ref.param)
            sizes.append((upload.width, upload.height))
            continue
        data = parse_data_uri(ref.value, param=ref.param, max_bytes=max_bytes) if ref.kind == "data_uri" \
            else parts[int(ref.value)]
        info = inspect_image(data, param=ref.param, max_bytes=max_bytes)
        sizes.append((info.width, info.height))
    return sizes

