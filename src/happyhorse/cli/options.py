"""Options shared by several commands, and building Settings from them."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from happyhorse.settings import Settings, default_data_dir

DataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="HAPPYHORSE_DATA_DIR", help="Where the database (SQLite), files and keys live."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="HAPPYHORSE_DATABASE_URL",
        help="sqlite:///path or postgresql://user@host/db (default: SQLite in the data dir).",
    ),
]
Engine = Annotated[
    str, typer.Option("--engine", envvar="HAPPYHORSE_ENGINE", help="Engine that generates: preview or ltx2.")
]
Host = Annotated[str, typer.Option("--host", envvar="HAPPYHORSE_HOST", help="Interface to listen on.")]
Port = Annotated[int, typer.Option("--port", envvar="HAPPYHORSE_PORT", help="Port to listen on.")]
PublicUrl = Annotated[
    str | None,
    typer.Option("--public-url", envvar="HAPPYHORSE_PUBLIC_URL", help="Base URL clients use (for signed output URLs)."),
]
AllowPrivateFetch = Annotated[
    bool,
    typer.Option(
        "--allow-private-fetch",
        envvar="HAPPYHORSE_ALLOW_PRIVATE_FETCH",
        help="Let image URLs point at loopback/private addresses (local use only).",
    ),
]


# Limits (docs: README "Limits"); unset means the Settings default.
_LIMITS = "Limits"
RateLimit = Annotated[
    float | None,
    typer.Option("--rate-limit", envvar="HAPPYHORSE_RATE_LIMIT", rich_help_panel=_LIMITS, metavar="PER_SECOND",
                 help="Requests per second per API key, per API process (default 100; 0: off)."),
]
RateLimitBurst = Annotated[
    int | None,
    typer.Option("--rate-limit-burst", envvar="HAPPYHORSE_RATE_LIMIT_BURST", rich_help_panel=_LIMITS,
                 help="Requests a key may make at once before the rate applies (default 500)."),
]
MaxStreamsPerKey = Annotated[
    int | None,
    typer.Option("--max-streams-per-key", envvar="HAPPYHORSE_MAX_STREAMS_PER_KEY", rich_help_panel=_LIMITS,
                 help="Event streams an API key may keep open at once, per API process; more is a 429 "
                      "(default 10; 0: no cap)."),
]
MaxQueuedJobs = Annotated[
    int | None,
    typer.Option("--max-queued-jobs", envvar="HAPPYHORSE_MAX_QUEUED_JOBS", rich_help_panel=_LIMITS,
                 help="Queued jobs per account; more is a 429 (default 1000; 0: no cap)."),
]
MaxRunningJobs = Annotated[
    int | None,
    typer.Option("--max-running-jobs", envvar="HAPPYHORSE_MAX_RUNNING_JOBS", rich_help_panel=_LIMITS,
                 help="Jobs per account running at once; workers leave the rest queued (default 8; 0: no cap)."),
]
MaxBodyBytes = Annotated[
    int | None,
    typer.Option("--max-body-bytes", envvar="HAPPYHORSE_MAX_BODY_BYTES", rich_help_panel=_LIMITS,
                 help="Largest submit body in bytes; more is a 413 (default 100 MiB)."),
]
MaxStoredUploadBytes = Annotated[
    int | None,
    typer.Option("--max-stored-upload-bytes", envvar="HAPPYHORSE_MAX_STORED_UPLOAD_BYTES", rich_help_panel=_LIMITS,
                 help="Bytes of uploads one account may keep stored; more is a 429 (default 1 GiB; 0: no cap)."),
]
MaxUrlFetchesPerAccount = Annotated[
    int | None,
    typer.Option("--max-url-fetches-per-account", envvar="HAPPYHORSE_MAX_URL_FETCHES_PER_ACCOUNT",
                 rich_help_panel=_LIMITS,
                 help="Submits of one account fetching image URLs at once, per API process; more is a 429 "
                      "(default 2; 0: no cap)."),
]
MaxUrlFetches = Annotated[
    int | None,
    typer.Option("--max-url-fetches", envvar="HAPPYHORSE_MAX_URL_FETCHES", rich_help_panel=_LIMITS,
                 help="Submits fetching image URLs at once in one API process; more is a 429 (default 16; 0: no cap)."),
]
MaxImageBytes = Annotated[
    int | None,
    typer.Option("--max-image-bytes", envvar="HAPPYHORSE_MAX_IMAGE_BYTES", rich_help_panel=_LIMITS,
                 help="Largest image in bytes (upload, data URI or URL); more is a 413 (default 10 MiB)."),
]


def limits(
    *, rate_limit: float | None = None, rate_limit_burst: int | None = None, max_queued_jobs: int | None = None,
    max_streams: int | None = None,
    max_running_jobs: int | None = None, max_body_bytes: int | None = None, max_image_bytes: int | None = None,
    max_stored_upload_bytes: int | None = None,
    max_url_fetches_per_account: int | None = None, max_url_fetches: int | None = None,
) -> dict[str, object]:
    """The Settings fields for the limit options an operator set; exits 2 on a negative value."""
    fields = {
        "rate_limit_per_second": rate_limit, "rate_limit_burst": rate_limit_burst, "max_streams_per_key": max_streams,
        "max_queued_jobs_per_account": max_queued_jobs, "max_running_jobs_per_account": max_running_jobs,
        "max_body_bytes": max_body_bytes, "max_image_bytes": max_image_bytes,
        "max_stored_upload_bytes": max_stored_upload_bytes,
        "max_url_fetches_per_account": max_url_fetches_per_account, "max_url_fetches": max_url_fetches,
    }
    for name, value in fields.items():
        if value is not None and value < 0:
            raise typer.BadParameter(f"{name} must be 0 or more, got {value}")
    return {name: value for name, value in fields.items() if value is not None}


# The orphan sweep each worker runs (docs: README "Orphaned files"); unset means the Settings default.
_HOUSEKEEPING = "Housekeeping"
SweepInterval = Annotated[
    float | None,
    typer.Option("--sweep-interval", envvar="HAPPYHORSE_SWEEP_INTERVAL", rich_help_panel=_HOUSEKEEPING, min=0,
                 metavar="SECONDS", help="How often the worker deletes a batch of orphaned files (default 300; 0: never)."),
]
SweepGrace = Annotated[
    float | None,
    typer.Option("--sweep-grace", envvar="HAPPYHORSE_SWEEP_GRACE", rich_help_panel=_HOUSEKEEPING, min=0,
                 metavar="SECONDS", help="Sweep only files of jobs ended (uploads stored) longer ago (default 3600)."),
]


UploadTtl = Annotated[
    float | None,
    typer.Option("--upload-ttl", envvar="HAPPYHORSE_UPLOAD_TTL", rich_help_panel=_HOUSEKEEPING, min=0,
                 metavar="SECONDS", help="Delete uploads unused for this long that no queued or running job names "
                                         "(default 86400; 0: keep them)."),
]


def sweep_settings(
    *, interval: float | None = None, grace: float | None = None, upload_ttl: float | None = None
) -> dict[str, object]:
    """The Settings fields for the sweep options an operator set."""
    fields = {"storage_sweep_interval_seconds": interval, "storage_sweep_grace_seconds": grace,
              "upload_ttl_seconds": upload_ttl}
    return {name: value for name, value in fields.items() if value is not None}


# Where outputs and uploads live (docs: README "S3 storage"); every process of a deployment must agree.
_STORAGE = "Storage"
StorageKind = Annotated[
    str | None,
    typer.Option("--storage", envvar="HAPPYHORSE_STORAGE", rich_help_panel=_STORAGE, metavar="local|s3",
                 help="Where outputs and uploads live: local (files in the data dir; the default) or s3 (a bucket "
                      "every API and worker host shares)."),
]
S3Bucket = Annotated[
    str | None,
    typer.Option("--s3-bucket", envvar="HAPPYHORSE_S3_BUCKET", rich_help_panel=_STORAGE, metavar="NAME",
                 help="The bucket, with --storage s3 (checked at startup). Credentials: boto3's usual chain "
                      "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)."),
]
S3Prefix = Annotated[
    str | None,
    typer.Option("--s3-prefix", envvar="HAPPYHORSE_S3_PREFIX", rich_help_panel=_STORAGE, metavar="FOLDER",
                 help="Keep everything under this folder of the bucket (default: its top level)."),
]
S3EndpointUrl = Annotated[
    str | None,
    typer.Option("--s3-endpoint-url", envvar="HAPPYHORSE_S3_ENDPOINT_URL", rich_help_panel=_STORAGE, metavar="URL",
                 help="An S3-compatible endpoint: MinIO, Cloudflare R2... (default: AWS)."),
]
S3Region = Annotated[
    str | None,
    typer.Option("--s3-region", envvar="HAPPYHORSE_S3_REGION", rich_help_panel=_STORAGE, metavar="REGION",
                 help="The bucket's region (default: boto3's, e.g. AWS_DEFAULT_REGION)."),
]


def storage_settings(
    *, storage: str | None = None, bucket: str | None = None, prefix: str | None = None,
    endpoint_url: str | None = None, region: str | None = None,
) -> dict[str, object]:
    """The Settings fields for the storage options; exits 2 on an unknown store or an incomplete S3 setup."""
    kind = (storage or "local").strip().lower()
    if kind not in ("local", "s3"):
        raise typer.BadParameter(f"--storage must be local or s3, got {storage!r}")
    s3_given = {"--s3-bucket": bucket, "--s3-prefix": prefix, "--s3-endpoint-url": endpoint_url,
                "--s3-region": region}
    if kind == "local":
        # Outputs silently landing on one host's disk would break a fleet: say so instead.
        stray = [name for name, value in s3_given.items() if value]
        if stray:
            raise typer.BadParameter(f"{', '.join(stray)} given but --storage is local; add --storage s3 "
                                     "(HAPPYHORSE_STORAGE=s3)")
        return {"storage": "local"}
    if not bucket:
        raise typer.BadParameter("--storage s3 needs --s3-bucket (HAPPYHORSE_S3_BUCKET)")
    from happyhorse.storage.s3 import s3_folder

    try:
        s3_folder(prefix or "")
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return {"storage": "s3", "s3_bucket": bucket, "s3_prefix": prefix or "", "s3_endpoint_url": endpoint_url or None,
            "s3_region": region or None}


# Options of the ltx2 engine (`--engine ltx2`); see engines/ltx2/options.py for what each does.
_LTX2 = "ltx2 engine"
Weights = Annotated[
    Path | None,
    typer.Option("--weights", envvar="HAPPYHORSE_WEIGHTS", rich_help_panel=_LTX2,
                 help="Diffusers-format LTX-2 directory (check it with `happyhorse weights check DIR`)."),
]
Device = Annotated[str | None, typer.Option("--device", envvar="HAPPYHORSE_DEVICE", rich_help_panel=_LTX2,
                                            help="cuda, cuda:1, cpu... (default: the first GPU, else the CPU).")]
Dtype = Annotated[str | None, typer.Option("--dtype", envvar="HAPPYHORSE_DTYPE", rich_help_panel=_LTX2,
                                           help="bfloat16, float16 or float32 (default: bfloat16 on a GPU).")]
Profile = Annotated[str | None, typer.Option("--profile", envvar="HAPPYHORSE_PROFILE", rich_help_panel=_LTX2,
                                             help="full (30 steps, guidance 3) or distilled (8 steps, no guidance; "
                                                  "needs distilled weights).")]
Steps = Annotated[int | None, typer.Option("--steps", envvar="HAPPYHORSE_STEPS", rich_help_panel=_LTX2,
                                           help="Denoising steps (default: the profile's).")]
Guidance = Annotated[float | None, typer.Option("--guidance", envvar="HAPPYHORSE_GUIDANCE", rich_help_panel=_LTX2,
                                                help="CFG scale (default: the profile's; <= 1 turns guidance off).")]
CpuOffload = Annotated[str | None, typer.Option("--cpu-offload", envvar="HAPPYHORSE_CPU_OFFLOAD",
                                                rich_help_panel=_LTX2, help="none, model or sequential.")]
VaeTiling = Annotated[bool, typer.Option("--vae-tiling", envvar="HAPPYHORSE_VAE_TILING", rich_help_panel=_LTX2,
                                         help="Decode video in tiles (less GPU memory).")]
AttentionBackend = Annotated[str | None, typer.Option("--attention-backend", envvar="HAPPYHORSE_ATTENTION_BACKEND",
                                                      rich_help_panel=_LTX2,
                                                      help="diffusers attention backend: flash, _flash_3, sage...")]
Cache = Annotated[str | None, typer.Option("--cache", envvar="HAPPYHORSE_CACHE", rich_help_panel=_LTX2,
                                           help="Step cache: taylorseer[:interval].")]
Compile = Annotated[bool, typer.Option("--compile", envvar="HAPPYHORSE_COMPILE", rich_help_panel=_LTX2,
                                       help="torch.compile the transformer blocks.")]
Scale = Annotated[float | None, typer.Option("--scale", envvar="HAPPYHORSE_SCALE", rich_help_panel=_LTX2,
                                             help="Generate at this fraction of the output size, then upscale.")]
IcLora = Annotated[Path | None, typer.Option("--ic-lora", envvar="HAPPYHORSE_IC_LORA", rich_help_panel=_LTX2,
                                             help="IC-LoRA for reference (r2v) conditioning.")]


# The web dashboard (sign-up policy); see docs/web.md.
AllowSignup = Annotated[
    bool,
    typer.Option("--signup/--no-signup", envvar="HAPPYHORSE_ALLOW_SIGNUP",
                 help="Let anyone create an account on the web sign-up page."),
]
SignupCredit = Annotated[
    str,
    typer.Option("--signup-credit", envvar="HAPPYHORSE_SIGNUP_CREDIT", metavar="USD",
                 help="Credit (USD) granted to each account created by web sign-up."),
]
SignupLimit = Annotated[
    int,
    typer.Option("--signup-limit", envvar="HAPPYHORSE_SIGNUP_LIMIT", min=0, metavar="PER_HOUR",
                 help="Accounts web sign-up may create per hour from one client address (IPv6: per /64); "
                      "0: no limit."),
]


def signup_credit(text: str) -> Decimal:
    """The --signup-credit amount: 0, or a positive amount of USD; exits 2 with why when malformed."""
    from happyhorse.billing.money import parse_usd

    if text.strip() in ("0", "0.0", "0.00", "$0"):
        return Decimal(0)
    try:
        return parse_usd(text, param="--signup-credit")
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def engine_options(**given: object) -> dict[str, object]:
    """The engine options an operator set (unset flags are left out, so the engine's defaults apply)."""
    return {name: value for name, value in given.items() if value is not None and value is not False}


# The HTTP edge: what a client connection may take, whom to believe (docs: docs/reliability.md, "Hostile clients").
_HTTP = "HTTP"
MaxHeaderBytes = Annotated[
    int | None,
    typer.Option("--max-header-bytes", envvar="HAPPYHORSE_MAX_HEADER_BYTES", rich_help_panel=_HTTP, min=1024,
                 help="Largest request headers in bytes, cookies included; more is a 431 (default 32768)."),
]
HeaderTimeout = Annotated[
    float | None,
    typer.Option("--header-timeout", envvar="HAPPYHORSE_HEADER_TIMEOUT", rich_help_panel=_HTTP, min=0.1,
                 metavar="SECONDS", help="Time a client has to send all of a request's headers; then 408 "
                                         "(default 10)."),
]
BodyTimeout = Annotated[
    float | None,
    typer.Option("--body-timeout", envvar="HAPPYHORSE_BODY_TIMEOUT", rich_help_panel=_HTTP, min=0.1,
                 metavar="SECONDS", help="Longest pause in a request body; then 408 (default 30)."),
]
TrustedProxies = Annotated[
    str | None,
    typer.Option("--trusted-proxies", envvar="HAPPYHORSE_TRUSTED_PROXIES", rich_help_panel=_HTTP,
                 metavar="ADDRESSES",
                 help="Reverse proxies whose X-Forwarded-For/-Proto are believed: addresses or networks, "
                      "comma-separated (default: none, not even 127.0.0.1)."),
]
AllowedHosts = Annotated[
    str | None,
    typer.Option("--allowed-hosts", envvar="HAPPYHORSE_ALLOWED_HOSTS", rich_help_panel=_HTTP, metavar="HOSTS",
                 help="Host headers to answer, comma-separated; .example.com allows subdomains, * any (default: "
                      "--public-url's host, the --host address, or this machine's name, and localhost)."),
]


def http_edge(
    *, host: str, public_url: str | None, max_header_bytes: int | None = None, header_timeout: float | None = None,
    body_timeout: float | None = None, trusted_proxies: str | None = None, allowed_hosts: str | None = None,
) -> dict[str, object]:
    """The Settings fields of the HTTP edge options; exits 2 on a malformed proxy address."""
    from happyhorse.api.allowed_hosts import default_allowed_hosts, parse_allowed_hosts
    from happyhorse.api.server_config import parse_trusted_proxies

    try:
        proxies = parse_trusted_proxies(trusted_proxies)
    except ValueError as error:
        raise typer.BadParameter(f"--trusted-proxies: {error}") from None
    fields: dict[str, object] = {
        "max_header_bytes": max_header_bytes, "header_timeout_seconds": header_timeout,
        "body_timeout_seconds": body_timeout,
    }
    chosen = {name: value for name, value in fields.items() if value is not None}
    hosts = parse_allowed_hosts(allowed_hosts) if allowed_hosts else default_allowed_hosts(host, public_url)
    return {**chosen, "trusted_proxies": proxies, "allowed_hosts": hosts}


def make_settings(data_dir: Path | None = None, database_url: str | None = None, **extra: object) -> Settings:
    settings = Settings(
        data_dir=(data_dir or default_data_dir()).expanduser(),
        database_url=database_url,
        # Every API and worker process of one deployment must share it.
        signing_secret=os.environ.get("HAPPYHORSE_SIGNING_SECRET") or None,
    )
    for name, value in extra.items():
        setattr(settings, name, value)
    return settings


def default_dir() -> Path:
    return default_data_dir()
