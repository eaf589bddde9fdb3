"""The access log never holds a working file URL: the ``sig`` of signed URLs is redacted.

A signed ``/files/...?expires=...&sig=...`` URL is a bearer credential for as
long as it lives (24 h by default); uvicorn's access log writes each request
line whole, so whoever reads the logs could fetch every output. The
signature's value becomes ``REDACTED``; the path and ``expires`` stay, so the
log still says which file was fetched and with which URL's lifetime.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

# Linear: one literal, then a run of characters that cannot end it.
_SIGNATURE = re.compile(r"(?<![A-Za-z0-9_])sig=[^&\s\"']+")
REDACTED = "sig=REDACTED"


def redact_signatures(text: str) -> str:
    return _SIGNATURE.sub(REDACTED, text) if "sig=" in text else text


class RedactSignatures(logging.Filter):
    """A logging filter that redacts signatures in a record's message and its string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_signatures(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_signatures(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def uvicorn_log_config(log_format: str = "text") -> dict[str, Any]:
    """uvicorn's own logging configuration with :class:`RedactSignatures` on its access logger;
    with ``log_format`` json, its lines are JSON objects like ours (:mod:`happyhorse.logs`)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_signatures"] = {"()": f"{__name__}.RedactSignatures"}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_signatures"]
    if log_format == "json":
        for name in config["formatters"]:
            config["formatters"][name] = {"()": "happyhorse.logs.JsonFormatter"}
    return config
