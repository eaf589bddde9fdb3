"""A submit's image URLs, fetched while the submitter waits (SPEC §3: images are
checked "before the job is accepted where the bytes are at hand").

Fetching here rather than in the worker means a slow or broken host costs its
submitter's request, never a worker holding the engine: the job a worker
claims has every image already checked and stored. One submit fetches its
URLs one after another within one budget (``fetch_timeout_seconds`` for all
of them), holding one of the account's fetch slots (:mod:`.fetch_slots`), off
the event loop (the submit runs on the API's thread pool).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from happyhorse.errors import InvalidRequest
from happyhorse.inputs.fetch import FetchError, fetch_url
from happyhorse.inputs.fetch_slots import SUBMIT_FETCHES
from happyhorse.settings import Settings

INVALID_IMAGE_CODE = "invalid_image"
"""The code of a URL image that could not be fetched or broke a rule (the code a job failed with before)."""


def ensure_urls_accepted(settings: Settings, params: Sequence[str]) -> None:
    """Raise 400 ``image_urls_not_accepted`` naming the first of ``params`` (the URL images)
    if this server takes no image URLs (``accept_image_urls`` off)."""
    if params and not settings.accept_image_urls:
        raise InvalidRequest(
            "image_urls_not_accepted",
            f"{params[0]}: this server does not fetch image URLs; upload the image (POST /v1/uploads) "
            "or send it as a data URI",
            params[0],
        )


def fetch_image_urls(settings: Settings, account_id: str, urls: Sequence[tuple[str, str]]) -> dict[str, bytes]:
    """The bodies of ``urls`` (``(param, url)`` pairs), keyed by param.

    Raises 429 ``too_many_fetches`` when the account (or the process) is at its
    fetch cap, and 400 ``invalid_image`` naming the param of the first URL that
    cannot be fetched (SSRF refusal, HTTP error, timeout, over the size cap)."""
    if not urls:
        return {}
    fetched: dict[str, bytes] = {}
    with SUBMIT_FETCHES.hold(
        account_id, per_account=settings.max_url_fetches_per_account, total=settings.max_url_fetches
    ):
        deadline = time.monotonic() + settings.fetch_timeout_seconds
        for param, url in urls:
            try:
                fetched[param] = fetch_url(
                    url,
                    max_bytes=settings.max_image_bytes,
                    timeout_seconds=max(0.0, deadline - time.monotonic()),
                    allow_private=settings.allow_private_fetch,
                ).bytes
            except FetchError as exc:
                raise InvalidRequest(INVALID_IMAGE_CODE, f"{param}: {exc.message}", param) from None
    return fetched
