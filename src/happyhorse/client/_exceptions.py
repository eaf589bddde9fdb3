"""Every exception the SDK raises on purpose, mapped from the API's error envelope.

Hierarchy::

    HappyHorseError                      anything this SDK raises on purpose
    ├── APIError                         a request to the API did not succeed
    │   ├── APIStatusError               the API answered non-2xx: status_code, code, param,
    │   │   │                            message, request_id, response
    │   │   ├── BadRequestError              400 invalid_request_error
    │   │   │   └── PayloadTooLargeError     413 body or image over its cap
    │   │   ├── AuthenticationError          401 missing, unknown or revoked key
    │   │   ├── InsufficientCreditsError     402 balance below the job's hold
    │   │   ├── PermissionDeniedError        403
    │   │   ├── NotFoundError                404 no such job/upload/model for this account
    │   │   ├── ConflictError                409 e.g. cancel of an ended job
    │   │   ├── UnprocessableEntityError     422 idempotency key reused with another body
    │   │   ├── RateLimitError               429 (after the SDK's own retries)
    │   │   └── InternalServerError          >= 500 (after the SDK's own retries)
    │   ├── APIConnectionError           no answer at all: refused, reset, DNS
    │   │   └── APITimeoutError          no answer in time
    │   └── APIResponseValidationError   a 2xx answer that is not the documented shape
    ├── JobNotCompletedError             ``wait`` saw the job end without a video (``.job``)
    │   ├── JobFailedError               status "failed": the server's ``code`` and ``message``
    │   └── JobCancelledError            status "cancelled"
    └── WaitTimeoutError                 ``wait`` gave up before the job ended (also a TimeoutError)

Every :class:`APIStatusError` carries the envelope's ``code`` (stable: switch on
it), ``param`` (the request field at fault, or ``None``), ``message`` (what to
change) and ``request_id`` (quote it in a bug report; taken from the envelope,
else from the ``x-request-id`` header).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from happyhorse.client._models import Job

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "HappyHorseError",
    "InsufficientCreditsError",
    "InternalServerError",
    "JobCancelledError",
    "JobFailedError",
    "JobNotCompletedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
]


class HappyHorseError(Exception):
    """Base of every exception the SDK raises on purpose (including configuration errors)."""


class APIError(HappyHorseError):
    """A request to the API did not succeed; ``request`` is the last one sent."""

    def __init__(self, message: str, *, request: httpx.Request | None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APIStatusError(APIError):
    """The API answered with a non-2xx status (after any retries the SDK made)."""

    status_code: int
    code: str | None
    """The envelope's stable error code, e.g. ``duration_out_of_range``."""
    param: str | None
    """The request field at fault, e.g. ``duration`` or ``image[1]``; ``None`` when none is."""
    type: str | None
    """The envelope's error type, e.g. ``invalid_request_error``."""
    request_id: str | None
    """The server's id for the request (``req_...``): quote it when reporting a problem."""
    response: httpx.Response
    body: Any
    """The decoded JSON body, or the text when it was not JSON."""

    def __init__(self, message: str, *, response: httpx.Response, body: Any = None) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code
        self.body = body
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        self.code = _str_or_none(error.get("code"))
        self.param = _str_or_none(error.get("param"))
        self.type = _str_or_none(error.get("type"))
        self.request_id = _str_or_none(error.get("request_id")) or response.headers.get("x-request-id")

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        param = f" (param: {self.param})" if self.param else ""
        request_id = f" [request_id: {self.request_id}]" if self.request_id else ""
        return f"{self.status_code}{code}: {self.message}{param}{request_id}"


class BadRequestError(APIStatusError):
    """400: a field is invalid or unknown, or the images do not fit the mode."""


class PayloadTooLargeError(BadRequestError):
    """413: the body or an image is over its cap (images: 10 MB)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, malformed, unknown or revoked."""


class InsufficientCreditsError(APIStatusError):
    """402: the account's available balance is below the job's hold."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this (or a signed URL is forged or expired)."""


class NotFoundError(APIStatusError):
    """404: no such job, upload or model for this account."""


class ConflictError(APIStatusError):
    """409: e.g. cancelling a job that already ended, or downloading one not completed."""


class UnprocessableEntityError(APIStatusError):
    """422: an ``Idempotency-Key`` was reused with a different body."""


class RateLimitError(APIStatusError):
    """429: a rate or concurrency limit; raised once the SDK's retries are used up."""


class InternalServerError(APIStatusError):
    """5xx: a server fault; raised once the SDK's retries are used up."""


class APIConnectionError(APIError):
    """No answer came back: the connection was refused, reset, or the name did not resolve."""

    def __init__(self, *, request: httpx.Request | None, message: str = "could not connect to the API") -> None:
        super().__init__(message, request=request)


class APITimeoutError(APIConnectionError):
    """No answer came back within the client's timeout."""

    def __init__(self, *, request: httpx.Request | None) -> None:
        super().__init__(request=request, message="the request to the API timed out")


class APIResponseValidationError(APIError):
    """A 2xx answer whose body is not the documented shape (a server/SDK version mismatch)."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code


class JobNotCompletedError(HappyHorseError):
    """``wait`` saw the job end without a video; ``job`` is its last state."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message)
        self.job = job
        self.job_id = job.job_id


class JobFailedError(JobNotCompletedError):
    """The job ended ``failed``; ``code`` and ``message`` are the server's (e.g. ``invalid_image``)."""

    def __init__(self, job: Job) -> None:
        self.code = job.error.code if job.error else None
        self.error_message = job.error.message if job.error else "the job failed without an error message"
        super().__init__(f"job {job.job_id} failed: {self.code}: {self.error_message}", job)


class JobCancelledError(JobNotCompletedError):
    """The job ended ``cancelled`` (by this or another client)."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.job_id} was cancelled", job)


class WaitTimeoutError(HappyHorseError, TimeoutError):
    """``wait`` gave up after ``timeout`` seconds; the job itself goes on (``job`` is its last state)."""

    def __init__(self, job: Job, timeout: float) -> None:
        super().__init__(f"job {job.job_id} is still {job.status} after waiting {timeout:g}s")
        self.job = job
        self.job_id = job.job_id
        self.timeout = timeout


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def make_status_error(response: httpx.Response) -> APIStatusError:
    """The exception for a non-2xx ``response`` whose body has been read."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = (body if isinstance(body, str) and body else None) or response.reason_phrase or "request failed"
    status = response.status_code
    error_class = _STATUS_ERRORS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    return error_class(message, response=response, body=body)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
