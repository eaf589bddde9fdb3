"""Every option of ``serve``, ``api``, ``worker`` and ``storage sweep``, declared once, in groups.

Each option names the Settings field it sets; its help and shown default come
from that field (``field_docs``). Flags and environment variables are part of
the interface (README, docs, deployments use them): never rename one.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import typer

from happyhorse.cli.options.option import Fields, OptionGroup, SettingOption
from happyhorse.settings import Settings

# Where the database and files live: every operator command has these.
DATABASE = OptionGroup((
    SettingOption("data_dir", "--data-dir", "HAPPYHORSE_DATA_DIR", Path),
    SettingOption("database_url", "--database-url", "HAPPYHORSE_DATABASE_URL"),
))

ENGINE = OptionGroup((SettingOption("engine", "--engine", "HAPPYHORSE_ENGINE"),))

# Options of the ltx2 engine (`--engine ltx2`); see engines/ltx2/options.py for what each does. The magihuman
# engine reads those it shares (weights, profile, steps, device, dtype, cpu_offload, scale, decode_chunk; see
# engines/magihuman/options.py) and refuses the others by name. Their
# defaults are the engine's (its profile's), not Settings', so their help is written here.
_LTX2 = "ltx2 engine"


def _ltx2(key: str, kind: type, help: str) -> SettingOption:
    return SettingOption("engine_options", f"--{key.replace('_', '-')}", f"HAPPYHORSE_{key.upper()}", kind,
                         panel=_LTX2, key=key, help=help)


LTX2 = OptionGroup((
    _ltx2("weights", Path, "Weights directory: diffusers-format LTX-2 / LTX-2.3, or the magihuman layout "
                           "(check: `happyhorse weights check [--engine magihuman] DIR`)."),
    _ltx2("device", str, "cuda, cuda:1, cpu... (default: the first GPU, else the CPU)."),
    _ltx2("dtype", str, "bfloat16, float16 or float32 (default: bfloat16 on a GPU)."),
    _ltx2("profile", str, "full (30 steps, guidance 3) or distilled (8 steps, no guidance; needs distilled weights); "
                          "magihuman: distilled (8 steps) or base/full (32 steps, CFG)."),
    _ltx2("steps", int, "Denoising steps (default: the profile's)."),
    _ltx2("guidance", float, "CFG scale (default: the profile's; <= 1 turns guidance off)."),
    _ltx2("cpu_offload", str, "none, model or sequential."),
    _ltx2("vae_tiling", bool, "Decode video in tiles (less GPU memory)."),
    _ltx2("attention_backend", str, "diffusers attention backend: flash, _flash_3, sage..."),
    _ltx2("cache", str, "Step cache: taylorseer[:interval]."),
    _ltx2("compile", bool, "torch.compile the transformer blocks."),
    _ltx2("scale", float, "Generate at this fraction of the output size, then upscale."),
    _ltx2("ic_lora", Path, "IC-LoRA for reference (r2v) conditioning."),
    _ltx2("two_stage", str, "auto (1080p on the distilled profile when a latent upsampler is found), on or off."),
    _ltx2("upsampler", Path, "Latent upsampler directory (default: WEIGHTS/latent_upsampler)."),
    _ltx2("decode_chunk", int, "Latent frames (8 video frames each) decoded at a time (default 8)."),
    _ltx2("decode_context", int, "Latent frames decoded either side of a chunk for its edge frames (default 2)."),
))

# Image URLs are fetched at submit (the API) and run time (the worker).
FETCH = OptionGroup((SettingOption("allow_private_fetch", "--allow-private-fetch", "HAPPYHORSE_ALLOW_PRIVATE_FETCH",
                                   bool),))


def signup_credit(text: str) -> Decimal:
    """The --signup-credit amount: 0, or a positive amount of USD; exits 2 with why when malformed."""
    from happyhorse.billing.money import parse_usd

    if text.strip() in ("0", "0.0", "0.00", "$0"):
        return Decimal(0)
    try:
        return parse_usd(text, param="--signup-credit")
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


# The web dashboard's sign-up policy; see docs/web.md.
SIGNUP = OptionGroup((
    SettingOption("allow_signup", "--signup/--no-signup", "HAPPYHORSE_ALLOW_SIGNUP", bool),
    SettingOption("signup_credit_usd", "--signup-credit", "HAPPYHORSE_SIGNUP_CREDIT", metavar="USD",
                  parse=signup_credit),
    SettingOption("signup_limit_per_hour", "--signup-limit", "HAPPYHORSE_SIGNUP_LIMIT", int, metavar="PER_HOUR",
                  min=0),
))

# Limits (docs: README "Limits"): 0 is "no cap" where a field says so, never "refuse everything".
_LIMITS = "Limits"
LIMITS = OptionGroup((
    SettingOption("rate_limit_per_second", "--rate-limit", "HAPPYHORSE_RATE_LIMIT", float, metavar="PER_SECOND",
                  min=0, panel=_LIMITS),
    SettingOption("rate_limit_burst", "--rate-limit-burst", "HAPPYHORSE_RATE_LIMIT_BURST", int, min=0,
                  panel=_LIMITS),
    SettingOption("max_streams_per_key", "--max-streams-per-key", "HAPPYHORSE_MAX_STREAMS_PER_KEY", int, min=0,
                  panel=_LIMITS),
    SettingOption("max_queued_jobs_per_account", "--max-queued-jobs", "HAPPYHORSE_MAX_QUEUED_JOBS", int, min=0,
                  panel=_LIMITS),
    SettingOption("max_running_jobs_per_account", "--max-running-jobs", "HAPPYHORSE_MAX_RUNNING_JOBS", int, min=0,
                  panel=_LIMITS),
    SettingOption("max_body_bytes", "--max-body-bytes", "HAPPYHORSE_MAX_BODY_BYTES", int, min=0, panel=_LIMITS),
    SettingOption("max_image_bytes", "--max-image-bytes", "HAPPYHORSE_MAX_IMAGE_BYTES", int, min=0, panel=_LIMITS),
    SettingOption("max_stored_upload_bytes", "--max-stored-upload-bytes", "HAPPYHORSE_MAX_STORED_UPLOAD_BYTES", int,
                  min=0, panel=_LIMITS),
    SettingOption("max_url_fetches_per_account", "--max-url-fetches-per-account",
                  "HAPPYHORSE_MAX_URL_FETCHES_PER_ACCOUNT", int, min=0, panel=_LIMITS),
    SettingOption("max_url_fetches", "--max-url-fetches", "HAPPYHORSE_MAX_URL_FETCHES", int, min=0, panel=_LIMITS),
))

# The orphan sweep each worker runs (docs: README "Orphaned files").
_HOUSEKEEPING = "Housekeeping"
SWEEP = OptionGroup((
    SettingOption("storage_sweep_interval_seconds", "--sweep-interval", "HAPPYHORSE_SWEEP_INTERVAL", float,
                  metavar="SECONDS", min=0, panel=_HOUSEKEEPING),
    SettingOption("storage_sweep_grace_seconds", "--sweep-grace", "HAPPYHORSE_SWEEP_GRACE", float,
                  metavar="SECONDS", min=0, panel=_HOUSEKEEPING),
    SettingOption("upload_ttl_seconds", "--upload-ttl", "HAPPYHORSE_UPLOAD_TTL", float, metavar="SECONDS", min=0,
                  panel=_HOUSEKEEPING),
))

# A worker's two-phase shutdown (README "Shutdown"); `--grace` has never had an environment variable.
SHUTDOWN = OptionGroup((SettingOption("shutdown_grace_seconds", "--grace", None, float, metavar="SECONDS", min=0),))


# Where outputs and uploads live (docs: README "S3 storage"); every process of a deployment must agree.
_STORAGE = "Storage"
_S3_OPTIONS = (
    SettingOption("s3_bucket", "--s3-bucket", "HAPPYHORSE_S3_BUCKET", metavar="NAME", panel=_STORAGE),
    SettingOption("s3_prefix", "--s3-prefix", "HAPPYHORSE_S3_PREFIX", metavar="FOLDER", panel=_STORAGE),
    SettingOption("s3_endpoint_url", "--s3-endpoint-url", "HAPPYHORSE_S3_ENDPOINT_URL", metavar="URL",
                  panel=_STORAGE),
    SettingOption("s3_region", "--s3-region", "HAPPYHORSE_S3_REGION", metavar="REGION", panel=_STORAGE),
)
_STORAGE_KIND = SettingOption("storage", "--storage", "HAPPYHORSE_STORAGE", metavar="local|s3", panel=_STORAGE)


def _check_storage(fields: Fields) -> Fields:
    """The storage fields, whole; exits 2 on an unknown store or an incomplete S3 setup."""
    kind = str(fields.get("storage") or "local").strip().lower()
    if kind not in ("local", "s3"):
        raise typer.BadParameter(f"--storage must be local or s3, got {fields.get('storage')!r}")
    s3 = {option.field: fields.get(option.field) or None for option in _S3_OPTIONS}
    if kind == "local":
        # Outputs silently landing on one host's disk would break a fleet: say so instead.
        stray = [option.flag for option in _S3_OPTIONS if s3[option.field]]
        if stray:
            raise typer.BadParameter(f"{', '.join(stray)} given but --storage is local; add --storage s3 "
                                     "(HAPPYHORSE_STORAGE=s3)")
        return {"storage": "local"}
    if not s3["s3_bucket"]:
        raise typer.BadParameter("--storage s3 needs --s3-bucket (HAPPYHORSE_S3_BUCKET)")
    from happyhorse.storage.s3 import s3_folder

    try:
        s3_folder(str(s3["s3_prefix"] or ""))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return {**s3, "storage": "s3", "s3_prefix": s3["s3_prefix"] or ""}


STORAGE = OptionGroup((_STORAGE_KIND, *_S3_OPTIONS), check=_check_storage)


def _trusted_proxies(text: str) -> tuple[str, ...]:
    from happyhorse.api.server_config import parse_trusted_proxies

    return parse_trusted_proxies(text)


def _allowed_hosts(text: str) -> tuple[str, ...]:
    from happyhorse.api.allowed_hosts import parse_allowed_hosts

    return parse_allowed_hosts(text)


def _check_http(fields: Fields) -> Fields:
    """Unset (or empty) ``--allowed-hosts``: the hosts this server is reached by, never "any"."""
    if fields.get("allowed_hosts"):
        return {}
    from happyhorse.api.allowed_hosts import default_allowed_hosts

    host = str(fields.get("host", Settings.host))
    public_url = fields.get("public_base_url")
    return {"allowed_hosts": default_allowed_hosts(host, str(public_url) if public_url else None)}


def _log_format(text: str) -> str:
    from happyhorse.logs import FORMATS

    value = text.strip().lower()
    if value not in FORMATS:
        raise ValueError(f"must be {' or '.join(FORMATS)}, got {text!r}")
    return value


# How log lines look (README "Logs"); every long-running command has it.
LOGGING = OptionGroup((SettingOption("log_format", "--log-format", "HAPPYHORSE_LOG_FORMAT", metavar="text|json",
                                     parse=_log_format),))

# Where the API listens, and how clients reach it.
LISTEN = OptionGroup((
    SettingOption("host", "--host", "HAPPYHORSE_HOST"),
    SettingOption("port", "--port", "HAPPYHORSE_PORT", int),
    SettingOption("public_base_url", "--public-url", "HAPPYHORSE_PUBLIC_URL"),
))

# The HTTP edge: what a client connection may take, whom to believe (docs: docs/reliability.md, "Hostile
# clients"). Its check reads LISTEN's fields (or their defaults) for the hosts allowed by default.
_HTTP = "HTTP"
HTTP = OptionGroup((
    SettingOption("max_header_bytes", "--max-header-bytes", "HAPPYHORSE_MAX_HEADER_BYTES", int, min=1024,
                  panel=_HTTP),
    SettingOption("header_timeout_seconds", "--header-timeout", "HAPPYHORSE_HEADER_TIMEOUT", float,
                  metavar="SECONDS", min=0.1, panel=_HTTP),
    SettingOption("body_timeout_seconds", "--body-timeout", "HAPPYHORSE_BODY_TIMEOUT", float, metavar="SECONDS",
                  min=0.1, panel=_HTTP),
    SettingOption("trusted_proxies", "--trusted-proxies", "HAPPYHORSE_TRUSTED_PROXIES", metavar="ADDRESSES",
                  parse=_trusted_proxies, panel=_HTTP),
    SettingOption("allowed_hosts", "--allowed-hosts", "HAPPYHORSE_ALLOWED_HOSTS", metavar="HOSTS",
                  parse=_allowed_hosts, panel=_HTTP),
), check=_check_http)

# Prometheus metrics (README "Metrics"): /metrics on the API's port behind a token, and/or a separate
# listener in any process. `worker` has no API port, so no token.
_METRICS = "Metrics"
METRICS = OptionGroup((
    SettingOption("metrics_token", "--metrics-token", "HAPPYHORSE_METRICS_TOKEN", metavar="TOKEN", panel=_METRICS),
    SettingOption("metrics_port", "--metrics-port", "HAPPYHORSE_METRICS_PORT", int, min=1, panel=_METRICS),
    SettingOption("metrics_host", "--metrics-host", "HAPPYHORSE_METRICS_HOST", panel=_METRICS),
))

GROUPS: dict[str, OptionGroup] = {
    "database": DATABASE, "listen": LISTEN, "engine": ENGINE, "ltx2": LTX2, "fetch": FETCH, "signup": SIGNUP,
    "limits": LIMITS, "sweep": SWEEP, "shutdown": SHUTDOWN, "storage": STORAGE, "http": HTTP, "logging": LOGGING,
    "metrics": METRICS,
}
"""Every group by name, for the tests that hold each option to a Settings field."""
