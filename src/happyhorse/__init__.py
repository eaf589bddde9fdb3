"""happyhorse: an open, self-hostable HappyHorse 1.1 video-generation API, and its Python SDK.

>>> import happyhorse
>>> with happyhorse.Client() as client:  # HAPPYHORSE_API_KEY, HAPPYHORSE_BASE_URL
...     job = client.videos.generate_and_wait(prompt="a horse on a beach at dawn", duration=3)
...     client.jobs.download(job, "horse.mp4")

``import happyhorse`` stays light: it loads the SDK (httpx, pydantic) and never
the server, the database layer, PyAV, numpy, Pillow or torch. The server lives
in ``happyhorse.api`` and friends and is installed with the ``server`` extra.
"""

__version__ = "0.1.0"

# After __version__: the SDK reads it for its User-Agent.
from happyhorse.client import (  # noqa: E402
    Account,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    EngineInfo,
    HappyHorseError,
    InsufficientCreditsError,
    InternalServerError,
    Job,
    JobCancelledError,
    JobDeleted,
    JobError,
    JobFailedError,
    JobList,
    JobNotCompletedError,
    JobRequest,
    JobResult,
    JobStatus,
    Model,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    Quote,
    RateLimitError,
    UnprocessableEntityError,
    Upload,
    Usage,
    VideoOutput,
    WaitTimeoutError,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "Account",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "EngineInfo",
    "HappyHorseError",
    "InsufficientCreditsError",
    "InternalServerError",
    "Job",
    "JobCancelledError",
    "JobDeleted",
    "JobError",
    "JobFailedError",
    "JobList",
    "JobNotCompletedError",
    "JobRequest",
    "JobResult",
    "JobStatus",
    "Model",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Quote",
    "RateLimitError",
    "UnprocessableEntityError",
    "Upload",
    "Usage",
    "VideoOutput",
    "WaitTimeoutError",
    "__version__",
]
