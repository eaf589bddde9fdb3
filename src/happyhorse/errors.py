"""The one error type the service raises for anything a caller can fix.

Every non-2xx answer of the API is rendered from a :class:`ServiceError` into
the envelope of SPEC §6::

    {"error": {"type": ..., "code": ..., "message": ..., "param": ..., "request_id": ...}}

``code`` is stable (clients switch on it); ``message`` says what to change;
``param`` names the request field at fault, or is ``None``.

Each status the API answers with is a class here, with ``status`` and
``type`` set on the class; nothing sets them on an instance.

Hierarchy (by HTTP status)::

    ServiceError                500 api_error (anything unexpected: ``internal_error``)
    ├── InvalidRequest          400 invalid_request_error
    ├── AuthenticationFailed    401 authentication_error
    ├── InsufficientCredits     402 billing_error
    ├── Forbidden               403 permission_error
    ├── NotFound                404 not_found_error
    ├── MethodNotAllowed        405 invalid_request_error
    ├── RequestTimeout          408 invalid_request_error
    ├── Conflict                409 conflict_error
    ├── PayloadTooLarge         413 invalid_request_error
    ├── RangeNotSatisfiable     416 invalid_request_error
    ├── IdempotencyMismatch     422 invalid_request_error
    ├── RateLimited             429 rate_limit_error
    ├── RequestHeadersTooLarge  431 invalid_request_error
    └── ServiceUnavailable      503 api_error
"""

from __future__ import annotations


class ServiceError(Exception):
    status: int = 500
    type: str = "api_error"

    def __init__(self, code: str, message: str, param: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers or {}

    def to_dict(self, request_id: str | None = None) -> dict:
        return {
            "error": {
                "type": self.type,
                "code": self.code,
                "message": self.message,
                "param": self.param,
                "request_id": request_id,
            }
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, param={self.param!r}, message={self.message!r})"


class InvalidRequest(ServiceError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(ServiceError):
    status = 401
    type = "authentication_error"


class InsufficientCredits(ServiceError):
    status = 402
    type = "billing_error"


class Forbidden(ServiceError):
    status = 403
    type = "permission_error"


class NotFound(ServiceError):
    status = 404
    type = "not_found_error"


class MethodNotAllowed(ServiceError):
    status = 405
    type = "invalid_request_error"


class RequestTimeout(ServiceError):
    status = 408
    type = "invalid_request_error"


class Conflict(ServiceError):
    status = 409
    type = "conflict_error"


class PayloadTooLarge(ServiceError):
    status = 413
    type = "invalid_request_error"


class RangeNotSatisfiable(ServiceError):
    """The requested byte range starts past the end of the file."""

    status = 416
    type = "invalid_request_error"


class IdempotencyMismatch(ServiceError):
    status = 422
    type = "invalid_request_error"


class RateLimited(ServiceError):
    status = 429
    type = "rate_limit_error"


class RequestHeadersTooLarge(ServiceError):
    status = 431
    type = "invalid_request_error"


class ServiceUnavailable(ServiceError):
    """Something the service depends on (its database) is away for now; ``Retry-After`` says when to retry."""

    status = 503
    type = "api_error"
