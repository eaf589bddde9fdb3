"""Configuration, request sending and the retry policy shared by Client and AsyncClient.

A request is retried (at most ``max_retries`` times, default 2) when no answer
came back (connection error, timeout) or the answer says "try again": 408,
409 with code ``idempotency_key_in_flight``, 429 and any 5xx. The wait before
a retry is the server's ``Retry-After`` (seconds or an HTTP date) when it gives
one, else exponential backoff (0.5 s, 1 s, 2 s … capped at 8 s) with jitter.
A create request sends one ``Idempotency-Key`` and sends the *same* key on
every retry, so a retried submit can never make a second job.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pydantic

from happyhorse import __version__
from happyhorse.client._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    HappyHorseError,
    make_status_error,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A Retry-After beyond this is not honoured literally: the backoff applies instead.
MAX_RETRY_AFTER = 60.0

# The functions that wait between retries; tests patch these to record delays.
sleep = time.sleep
async_sleep = asyncio.sleep

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


@dataclass(frozen=True)
class RequestOptions:
    """One API call, described so that it can be built again for each attempt."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    """Sent as ``Idempotency-Key`` on every attempt (creates set it)."""
    follow_redirects: bool = False


def new_idempotency_key() -> str:
    """A fresh key for one create call (a uuid4)."""
    return str(uuid.uuid4())


class BaseClient:
    """Settings and the pure parts of sending: URLs, headers, the retry decision and delay."""

    api_key: str
    base_url: str
    timeout: httpx.Timeout
    max_retries: int

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        api_key = api_key or os.environ.get("HAPPYHORSE_API_KEY")
        if not api_key:
            raise HappyHorseError("no API key: pass api_key=... or set HAPPYHORSE_API_KEY")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        self.api_key = api_key
        self.base_url = (base_url or os.environ.get("HAPPYHORSE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else (
            DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout)
        )
        self.max_retries = max_retries
        self._default_headers = dict(default_headers or {})

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def _headers(self, options: RequestOptions) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": f"happyhorse-python/{__version__}",
            **self._default_headers,
            **options.headers,
        }
        if options.idempotency_key:
            headers["Idempotency-Key"] = options.idempotency_key
        return headers

    def _build_request(self, http: httpx.Client | httpx.AsyncClient, options: RequestOptions) -> httpx.Request:
        return http.build_request(
            options.method,
            self._url(options.path),
            params=options.params,
            json=options.json,
            files=options.files,
            headers=self._headers(options),
            # As a tuple: httpx takes it, and so does httpx2, on which Starlette 1.10's
            # TestClient is built (it refuses an httpx.Timeout object).
            timeout=(self.timeout.connect, self.timeout.read, self.timeout.write, self.timeout.pool),
        )


def should_retry(response: httpx.Response) -> bool:
    """Whether an answer says "try again" (408, 409 in-flight idempotency, 429, 5xx)."""
    status = response.status_code
    if status in (408, 429) or status >= 500:
        return True
    if status == 409:
        return _error_code(response) == "idempotency_key_in_flight"
    return False


def retry_delay(retries_done: int, response: httpx.Response | None) -> float:
    """Seconds to wait before retry number ``retries_done + 1``."""
    if response is not None:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None and 0 <= retry_after <= MAX_RETRY_AFTER:
            return retry_after
    backoff = min(INITIAL_RETRY_DELAY * 2.0**retries_done, MAX_RETRY_DELAY)
    # Jitter spreads clients that failed together so they do not retry together.
    return backoff * (1 - 0.25 * random.random())


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; ``None`` if absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def parse_response(model: type[ModelT], response: httpx.Response) -> ModelT:
    """The body of a 2xx ``response`` as ``model``; a body of another shape is an APIResponseValidationError."""
    try:
        return model.model_validate(response.json())
    except (ValueError, pydantic.ValidationError) as exc:
        raise APIResponseValidationError(
            f"the API answered {response.status_code} with a body that is not a {model.__name__}: {exc}",
            response=response,
        ) from exc


def _error_code(response: httpx.Response) -> str | None:
    try:
        response.read()
        error = response.json().get("error") or {}
        return error.get("code") if isinstance(error, dict) else None
    except (ValueError, AttributeError, httpx.HTTPError):
        return None


class SyncAPIClient(BaseClient):
    """Sends requests with the retry policy over one pooled ``httpx.Client``."""

    def __init__(self, *, http_client: httpx.Client | None, **settings: Any) -> None:
        super().__init__(**settings)
        self._owns_http_client = http_client is None
        self._http = http_client or httpx.Client(timeout=self.timeout)

    def request(self, options: RequestOptions, *, stream: bool = False) -> httpx.Response:
        """Send ``options``, retrying as the policy says; a non-2xx final answer raises its APIStatusError.

        With ``stream`` the body is not read: the caller must close the response."""
        retries_done = 0
        while True:
            request = self._build_request(self._http, options)
            try:
                response = self._http.send(request, stream=stream, follow_redirects=options.follow_redirects)
            except httpx.TransportError as exc:
                if retries_done < self.max_retries:
                    sleep(retry_delay(retries_done, None))
                    retries_done += 1
                    continue
                raise _connection_error(exc, request) from exc
            if response.is_success:
                return response
            if retries_done < self.max_retries and should_retry(response):
                delay = retry_delay(retries_done, response)
                response.close()
                sleep(delay)
                retries_done += 1
                continue
            response.read()
            response.close()
            raise make_status_error(response)

    def close(self) -> None:
        """Close the connection pool (unless the caller passed its own ``http_client``)."""
        if self._owns_http_client:
            self._http.close()


class AsyncAPIClient(BaseClient):
    """Sends requests with the retry policy over one pooled ``httpx.AsyncClient``."""

    def __init__(self, *, http_client: httpx.AsyncClient | None, **settings: Any) -> None:
        super().__init__(**settings)
        self._owns_http_client = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout)

    async def request(self, options: RequestOptions, *, stream: bool = False) -> httpx.Response:
        """Send ``options``, retrying as the policy says; a non-2xx final answer raises its APIStatusError.

        With ``stream`` the body is not read: the caller must close the response."""
        retries_done = 0
        while True:
            request = self._build_request(self._http, options)
            try:
                response = await self._http.send(request, stream=stream, follow_redirects=options.follow_redirects)
            except httpx.TransportError as exc:
                if retries_done < self.max_retries:
                    await async_sleep(retry_delay(retries_done, None))
                    retries_done += 1
                    continue
                raise _connection_error(exc, request) from exc
            if response.is_success:
                return response
            await response.aread()
            if retries_done < self.max_retries and should_retry(response):
                delay = retry_delay(retries_done, response)
                await response.aclose()
                await async_sleep(delay)
                retries_done += 1
                continue
            await response.aclose()
            raise make_status_error(response)

    async def close(self) -> None:
        """Close the connection pool (unless the caller passed its own ``http_client``)."""
        if self._owns_http_client:
            await self._http.aclose()


def _connection_error(exc: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(request=request)
    return APIConnectionError(request=request, message=f"could not connect to the API at {request.url.host}: {exc}")
