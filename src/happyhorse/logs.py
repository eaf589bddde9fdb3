"""Log lines: plain text (the default) or one JSON object a line (``--log-format json``).

A JSON line holds ``time``, ``level``, ``logger``, ``message`` (and ``error``,
the traceback, when there is one) and the ids of what it is about, where they
are known: ``request_id`` and ``account_id`` in the API (bound per request),
``worker_id`` and ``job_id`` in a worker (bound per worker thread and per
job). The ids live in a context variable: :func:`log_context` binds some for a
block; a thread started with :func:`in_context` carries its starter's.

Never in a line: API keys, signatures, webhook secrets, prompts at INFO. The
code logs none of them; as a second line of defence every formatted line
(text or JSON) is passed through :func:`redact`, which masks anything shaped
like a key, a ``Bearer`` credential, a URL signature or a ``whsec_`` secret.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

FORMATS = ("text", "json")
CONTEXT_FIELDS = ("request_id", "account_id", "worker_id", "job_id")

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("happyhorse_log_context", default={})

# Linear patterns: a literal, then a run of characters that cannot end it.
_SECRETS = [
    (re.compile(r"hh_live_[A-Za-z0-9]+"), "hh_live_REDACTED"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_REDACTED"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1REDACTED"),
    (re.compile(r"(?<![A-Za-z0-9_])sig=[^&\s\"']+"), "sig=REDACTED"),
    (re.compile(r"(?i)(webhook-signature[\"']?\s*[:=]\s*[\"']?)[^\s\"',]+"), r"\1REDACTED"),
]


def redact(text: str) -> str:
    """``text`` with every key, bearer credential, URL signature and webhook secret masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def bound() -> dict[str, str]:
    """The ids bound here and now."""
    return _context.get()


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Bind ``ids`` (those not None) to every log line written in this block, on this thread
    or task (and in threads it starts with :func:`in_context`)."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**ids: str | None) -> None:
    """Bind ``ids`` for the rest of this thread's (or task's) life."""
    _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})


def in_context(target: Callable[..., Any]) -> Callable[..., Any]:
    """``target`` made to run with the ids bound now (for a thread's ``target``)."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.run(target, *args, **kwargs)


class JsonFormatter(logging.Formatter):
    """One JSON object a line, with the bound ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context.get())
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False, default=str))


class RedactingFormatter(logging.Formatter):
    """The plain-text format, redacted like the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return RedactingFormatter(TEXT_FORMAT)
    raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")


def configure_logging(log_format: str = "text", level: str | None = None) -> None:
    """Send every log line (uvicorn's too) to stderr in ``log_format``, at ``level``
    (default ``HAPPYHORSE_LOG_LEVEL`` or INFO)."""
    level = (level or os.environ.get("HAPPYHORSE_LOG_LEVEL", "INFO")).upper()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic narrates every plugin at INFO; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
