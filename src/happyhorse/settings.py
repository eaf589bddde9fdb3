"""Settings, built at the edge (the CLI or a test) and passed in; never a global."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    return Path(os.environ.get("HAPPYHORSE_DATA_DIR", Path.home() / ".happyhorse"))


@dataclass
class Settings:
    """What one API or worker process runs with.

    The docstring under a field is also the ``--help`` of the command-line option
    that sets it (``cli/options``), so it is written for operators: plain words,
    "unset" for ``None``, and no default (``--help`` adds the one read from here).
    """

    data_dir: Path = field(default_factory=default_data_dir)
    """Where the database (SQLite), files and keys live."""
    database_url: str | None = None
    """``sqlite:///path`` or ``postgresql://user@host/db``; unset: SQLite in the data dir
    (``<data_dir>/happyhorse.db``)."""
    host: str = "127.0.0.1"
    """Interface the API listens on."""
    port: int = 8000
    """Port the API listens on."""
    public_base_url: str | None = None
    """Base URL clients use to reach the API (for signed output URLs); unset: each request's own base URL."""
    signing_secret: str | None = None
    """HMAC key for signed file URLs; ``None`` means one kept in ``<data_dir>/signing-secret``."""
    url_ttl_seconds: int = 24 * 3600
    storage: str = "local"
    """Where outputs and uploads live: ``local`` (files in the data dir) or ``s3`` (a bucket every API and
    worker host shares)."""
    s3_bucket: str | None = None
    """The bucket, with storage ``s3`` (checked at startup); every API and worker process of a deployment
    names the same one. Credentials: boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
    ``AWS_PROFILE``, an instance role)."""
    s3_prefix: str = ""
    """A folder of the bucket to keep everything under; empty: the bucket's top level."""
    s3_endpoint_url: str | None = None
    """An S3-compatible endpoint (MinIO, Cloudflare R2...); unset: AWS."""
    s3_region: str | None = None
    """The bucket's region; unset: boto3's (``AWS_DEFAULT_REGION``, the profile...)."""
    engine: str = "preview"
    """Engine that generates: ``preview`` (procedural, CPU) or ``ltx2``."""
    engine_options: dict[str, Any] = field(default_factory=dict)
    """Options the worker builds its engine with (``ltx2``: ``weights``, ``device``, ``steps``...)."""
    allow_private_fetch: bool = False
    """Let image URLs point at loopback/private addresses (for local use only)."""
    fetch_timeout_seconds: float = 20.0
    """Time budget for fetching all of one submit's image URLs (they are fetched at submit)."""
    accept_image_urls: bool = True
    """Accept image URLs in submits (fetched at submit); ``False`` refuses them with a 400
    ``image_urls_not_accepted`` (a server that must not reach out; uploads and data URIs still work)."""
    max_url_fetches_per_account: int = 2
    """Submits of one account that may fetch image URLs at once, per API process; more is a 429
    ``too_many_fetches``. 0: no cap."""
    max_url_fetches: int = 16
    """Submits that may fetch image URLs at once in one API process (all accounts), kept well under
    the API's 40 worker threads; more is a 429 ``too_many_fetches``. 0: no cap."""
    max_image_bytes: int = 10 * 1024 * 1024
    """Largest accepted image in bytes (upload, data URI or fetched URL); larger is a 413."""
    max_body_bytes: int = 100 * 1024 * 1024
    """Largest accepted submit body in bytes; larger is a 413."""
    rate_limit_per_second: float = 100.0
    """Requests per second each API key may make to ``/v1`` (a token bucket: for the whole deployment on
    PostgreSQL, per API process on SQLite); 0 turns it off."""
    rate_limit_burst: int = 500
    """Requests a key may make at once before the per-second rate applies (the bucket's size)."""
    max_streams_per_key: int = 10
    """Event streams (``GET /v1/jobs/{id}/events``) one API key may keep open at once (in the whole
    deployment on PostgreSQL, per API process on SQLite); one more is a 429 ``too_many_streams``. 0: no cap."""
    max_queued_jobs_per_account: int = 1000
    """Queued jobs one account may have; a submit past it is a 429 ``too_many_queued_jobs``. 0: no cap."""
    max_running_jobs_per_account: int = 8
    """Jobs of one account that run at once; workers leave the rest queued. 0: no cap."""
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    max_attempts: int = 3
    worker_seen_seconds: float = 60.0
    """A worker counts as registered (its engine's modes as served) while it was seen within this many
    seconds; each worker refreshes its registration every third of it. The same on every process."""
    shutdown_grace_seconds: float = 30.0
    """Seconds a running job may take to finish after SIGTERM before the worker puts it back in the queue."""
    storage_sweep_interval_seconds: float = 300.0
    """How often each worker deletes a batch of orphaned files (``happyhorse storage sweep`` deletes them all
    at once); 0: never."""
    storage_sweep_grace_seconds: float = 3600.0
    """How long a job must have ended (an upload must have been stored) before its orphaned files are deleted."""
    upload_ttl_seconds: float = 24 * 3600.0
    """Uploads expire this long after they were last used (stored, named by a submit, uploaded again) and no
    queued or running job names them; the storage sweep deletes them. 0: uploads never expire."""
    max_stored_upload_bytes: int = 1024 * 1024 * 1024
    """Bytes of uploads one account may keep stored; an upload past it is a 429 ``upload_quota_exceeded``. 0: no cap."""
    allow_signup: bool = True
    """Let anyone create an account from the web sign-up page (``--no-signup`` turns it off)."""
    signup_credit_usd: Decimal = Decimal(0)
    """Credit (USD) granted to each account created by web sign-up: none unless the operator asks, under
    ``serve`` too (its own ``dev`` account gets its grant regardless)."""
    signup_limit_per_hour: int = 5
    """Accounts web sign-up may create per hour from one client address (an IPv6 client: its /64),
    per API process; past it ``POST /signup`` is a 429 with ``Retry-After``. 0: no limit."""
    session_ttl_seconds: int = 14 * 24 * 3600
    """How long a dashboard sign-in lasts."""
    max_header_bytes: int = 32 * 1024
    """Largest request target plus headers in bytes, cookies included; more is a 431."""
    header_timeout_seconds: float = 10.0
    """A request's headers must all arrive within this many seconds, else 408 and the connection closes."""
    body_timeout_seconds: float = 30.0
    """A request body that sends no byte for this many seconds ends with a 408 (or a closed connection)."""
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies whose ``X-Forwarded-For``/``-Proto`` are believed: addresses or networks
    (``10.0.0.0/8``), comma-separated on the command line. None by default, not even 127.0.0.1, so a client
    can never choose the address the sign-in and sign-up limits see."""
    allowed_hosts: tuple[str, ...] | None = None
    """``Host`` headers to answer, comma-separated on the command line; ``.example.com`` allows its
    subdomains, ``*`` any. Unset: ``serve`` and ``api`` answer the public URL's host, the bind address (this
    machine's names when bound to every interface) and localhost; a library caller checks nothing."""

    log_format: str = "text"
    """Log lines as ``text`` or ``json`` (one object a line, with the request, account, job and worker ids
    known where it was written; never a key, signature, secret or prompt)."""
    metrics_token: str | None = field(default=None, repr=False)
    """Token ``GET /metrics`` on the API's port asks for (``Authorization: Bearer <token>``); unset: the API
    has no ``/metrics`` (404). Prefer the environment variable: a flag shows in ``ps``."""
    metrics_host: str = "127.0.0.1"
    """Interface of the separate metrics listener (``--metrics-port``)."""
    metrics_port: int | None = None
    """Port of a separate Prometheus listener in this process, with no token (keep it on a private
    interface); unset: none."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'happyhorse.db'}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def resolved_signing_secret(self) -> bytes:
        """The signing key: given, else read from (or created in) the data dir with mode 0600."""
        if self.signing_secret:
            return self.signing_secret.encode()
        path = self.data_dir / "signing-secret"
        from happyhorse.private_files import make_private_dir

        make_private_dir(self.data_dir)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()
