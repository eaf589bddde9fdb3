"""``happyhorse serve``, ``api`` and ``worker``: running the service."""

from __future__ import annotations

import logging
import os
import signal
import threading

import typer

from happyhorse.cli.options import (
    AllowedHosts,
    AllowPrivateFetch,
    AllowSignup,
    AttentionBackend,
    BodyTimeout,
    Cache,
    Compile,
    CpuOffload,
    DataDir,
    DatabaseUrl,
    Device,
    Dtype,
    Engine,
    Guidance,
    HeaderTimeout,
    Host,
    IcLora,
    MaxBodyBytes,
    MaxHeaderBytes,
    MaxImageBytes,
    MaxStoredUploadBytes,
    MaxQueuedJobs,
    MaxRunningJobs,
    MaxStreamsPerKey,
    MaxUrlFetches,
    MaxUrlFetchesPerAccount,
    Port,
    Profile,
    PublicUrl,
    RateLimit,
    RateLimitBurst,
    S3Bucket,
    S3EndpointUrl,
    S3Prefix,
    S3Region,
    Scale,
    SignupCredit,
    SignupLimit,
    Steps,
    StorageKind,
    SweepGrace,
    SweepInterval,
    UploadTtl,
    TrustedProxies,
    VaeTiling,
    Weights,
    default_dir,
    engine_options,
    http_edge,
    limits,
    make_settings,
    signup_credit,
    storage_settings,
    sweep_settings,
)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(api)
    app.command()(worker)


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
    engine: Engine = "preview",
    public_url: PublicUrl = None,
    allow_private_fetch: AllowPrivateFetch = False,
    weights: Weights = None,
    device: Device = None,
    dtype: Dtype = None,
    profile: Profile = None,
    steps: Steps = None,
    guidance: Guidance = None,
    cpu_offload: CpuOffload = None,
    vae_tiling: VaeTiling = False,
    attention_backend: AttentionBackend = None,
    cache: Cache = None,
    compile: Compile = False,
    scale: Scale = None,
    ic_lora: IcLora = None,
    signup: AllowSignup = True,
    signup_credit_usd: SignupCredit = "0",
    signup_limit: SignupLimit = 5,
    rate_limit: RateLimit = None,
    rate_limit_burst: RateLimitBurst = None,
    max_streams_per_key: MaxStreamsPerKey = None,
    max_queued_jobs: MaxQueuedJobs = None,
    max_running_jobs: MaxRunningJobs = None,
    max_body_bytes: MaxBodyBytes = None,
    max_image_bytes: MaxImageBytes = None,
    max_stored_upload_bytes: MaxStoredUploadBytes = None,
    max_url_fetches_per_account: MaxUrlFetchesPerAccount = None,
    max_url_fetches: MaxUrlFetches = None,
    sweep_interval: SweepInterval = None,
    sweep_grace: SweepGrace = None,
    upload_ttl: UploadTtl = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_prefix: S3Prefix = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
    max_header_bytes: MaxHeaderBytes = None,
    header_timeout: HeaderTimeout = None,
    body_timeout: BodyTimeout = None,
    trusted_proxies: TrustedProxies = None,
    allowed_hosts: AllowedHosts = None,
) -> None:
    """Run everything in one process: the API, one worker, SQLite and (unless --storage s3) local files."""
    from happyhorse.app import create_app
    from happyhorse.cli.bootstrap import DEV_CREDIT, ensure_dev_key
    from happyhorse.web.bootstrap import ensure_dev_user, signup_banner
    from happyhorse.worker import Worker, WorkerThread

    _configure_logging()
    options = engine_options(
        weights=weights, device=device, dtype=dtype, profile=profile, steps=steps, guidance=guidance,
        cpu_offload=cpu_offload, vae_tiling=vae_tiling, attention_backend=attention_backend, cache=cache,
        compile=compile, scale=scale, ic_lora=ic_lora,
    )
    where = storage_settings(storage=storage, bucket=s3_bucket, prefix=s3_prefix, endpoint_url=s3_endpoint_url,
                             region=s3_region)  # a bad option exits before the engine loads
    the_engine = _load_engine_or_exit(engine, options)
    settings = make_settings(
        data_dir, database_url, engine=engine, engine_options=options, public_base_url=public_url,
        allow_private_fetch=allow_private_fetch, allow_signup=signup,
        signup_credit_usd=signup_credit(signup_credit_usd), signup_limit_per_hour=signup_limit,
        **limits(rate_limit=rate_limit, rate_limit_burst=rate_limit_burst, max_streams=max_streams_per_key,
                 max_queued_jobs=max_queued_jobs, max_running_jobs=max_running_jobs, max_body_bytes=max_body_bytes,
                 max_image_bytes=max_image_bytes, max_stored_upload_bytes=max_stored_upload_bytes,
                 max_url_fetches_per_account=max_url_fetches_per_account, max_url_fetches=max_url_fetches),
        **sweep_settings(interval=sweep_interval, grace=sweep_grace, upload_ttl=upload_ttl),
        **where,
        **http_edge(host=host, public_url=public_url, max_header_bytes=max_header_bytes, header_timeout=header_timeout,
                    body_timeout=body_timeout, trusted_proxies=trusted_proxies, allowed_hosts=allowed_hosts),
    )
    runtime = open_runtime_or_exit(settings)
    ensure_dev_key(runtime, echo=typer.echo)
    ensure_dev_user(runtime, f"http://{host}:{port}", echo=typer.echo)
    typer.echo(signup_banner(settings, f"http://{host}:{port}", dev_credit=DEV_CREDIT))
    worker_thread = WorkerThread(Worker(runtime, the_engine), grace_seconds=settings.shutdown_grace_seconds)
    typer.echo(f"happyhorse: API on http://{host}:{port} (docs at /docs), engine {engine}, data in {settings.data_dir}")
    _run_uvicorn(create_app(runtime, worker=worker_thread), host, port, settings)


def api(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
    engine: Engine = "preview",
    public_url: PublicUrl = None,
    allow_private_fetch: AllowPrivateFetch = False,
    signup: AllowSignup = True,
    signup_credit_usd: SignupCredit = "0",
    signup_limit: SignupLimit = 5,
    rate_limit: RateLimit = None,
    rate_limit_burst: RateLimitBurst = None,
    max_streams_per_key: MaxStreamsPerKey = None,
    max_queued_jobs: MaxQueuedJobs = None,
    max_body_bytes: MaxBodyBytes = None,
    max_image_bytes: MaxImageBytes = None,
    max_stored_upload_bytes: MaxStoredUploadBytes = None,
    max_url_fetches_per_account: MaxUrlFetchesPerAccount = None,
    max_url_fetches: MaxUrlFetches = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_prefix: S3Prefix = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
    max_header_bytes: MaxHeaderBytes = None,
    header_timeout: HeaderTimeout = None,
    body_timeout: BodyTimeout = None,
    trusted_proxies: TrustedProxies = None,
    allowed_hosts: AllowedHosts = None,
) -> None:
    """Run only the API (workers run separately against the same --database-url)."""
    from happyhorse.app import create_app

    _configure_logging()
    settings = make_settings(data_dir, database_url, engine=engine, public_base_url=public_url, allow_signup=signup,
                             allow_private_fetch=allow_private_fetch,  # image URLs are fetched at submit
                             signup_credit_usd=signup_credit(signup_credit_usd), signup_limit_per_hour=signup_limit,
                             **limits(rate_limit=rate_limit, rate_limit_burst=rate_limit_burst,
                                      max_streams=max_streams_per_key,
                                      max_queued_jobs=max_queued_jobs, max_body_bytes=max_body_bytes,
                                      max_image_bytes=max_image_bytes,
                                      max_stored_upload_bytes=max_stored_upload_bytes,
                                      max_url_fetches_per_account=max_url_fetches_per_account,
                                      max_url_fetches=max_url_fetches),
                             **storage_settings(storage=storage, bucket=s3_bucket, prefix=s3_prefix,
                                                endpoint_url=s3_endpoint_url, region=s3_region),
                             **http_edge(host=host, public_url=public_url, max_header_bytes=max_header_bytes,
                                         header_timeout=header_timeout, body_timeout=body_timeout,
                                         trusted_proxies=trusted_proxies, allowed_hosts=allowed_hosts))
    _run_uvicorn(create_app(open_runtime_or_exit(settings)), host, port, settings)


def worker(
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
    engine: Engine = "preview",
    allow_private_fetch: AllowPrivateFetch = False,
    grace: float = typer.Option(30.0, help="Seconds a running job may take to finish after SIGTERM."),
    weights: Weights = None,
    device: Device = None,
    dtype: Dtype = None,
    profile: Profile = None,
    steps: Steps = None,
    guidance: Guidance = None,
    cpu_offload: CpuOffload = None,
    vae_tiling: VaeTiling = False,
    attention_backend: AttentionBackend = None,
    cache: Cache = None,
    compile: Compile = False,
    scale: Scale = None,
    ic_lora: IcLora = None,
    max_running_jobs: MaxRunningJobs = None,
    max_image_bytes: MaxImageBytes = None,
    sweep_interval: SweepInterval = None,
    sweep_grace: SweepGrace = None,
    upload_ttl: UploadTtl = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_prefix: S3Prefix = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
) -> None:
    """Run one worker: claims jobs from the database and generates them (one per GPU)."""
    from happyhorse.worker import Worker

    _configure_logging()
    options = engine_options(
        weights=weights, device=device, dtype=dtype, profile=profile, steps=steps, guidance=guidance,
        cpu_offload=cpu_offload, vae_tiling=vae_tiling, attention_backend=attention_backend, cache=cache,
        compile=compile, scale=scale, ic_lora=ic_lora,
    )
    where = storage_settings(storage=storage, bucket=s3_bucket, prefix=s3_prefix, endpoint_url=s3_endpoint_url,
                             region=s3_region)  # a bad option exits before the engine loads
    the_engine = _load_engine_or_exit(engine, options)
    settings = make_settings(data_dir, database_url, engine=engine, engine_options=options,
                             allow_private_fetch=allow_private_fetch,
                             **limits(max_running_jobs=max_running_jobs, max_image_bytes=max_image_bytes),
                             **sweep_settings(interval=sweep_interval, grace=sweep_grace, upload_ttl=upload_ttl),
                             **where)
    the_worker = Worker(open_runtime_or_exit(settings), the_engine)
    _install_shutdown(the_worker, grace)
    the_worker.run()


def open_runtime_or_exit(settings):  # type: ignore[no-untyped-def]
    """``Runtime.open(settings)``; storage that cannot be used (no boto3, a bad bucket) exits 2 with why."""
    from happyhorse.runtime import Runtime
    from happyhorse.storage.s3 import S3Unavailable

    try:
        return Runtime.open(settings)
    except S3Unavailable as exc:
        typer.echo(f"happyhorse: cannot start: {exc}", err=True)
        raise typer.Exit(2) from None


def _load_engine_or_exit(name: str, options: dict):  # type: ignore[no-untyped-def]
    """Build the engine before anything else starts; a missing package or bad option exits 2 with why."""
    from happyhorse.engines import EngineUnavailable, load_engine

    try:
        return load_engine(name, options)
    except (EngineUnavailable, ValueError) as exc:
        typer.echo(f"happyhorse: cannot start engine {name!r}: {exc}", err=True)
        raise typer.Exit(2) from None


def _install_shutdown(the_worker, grace: float) -> None:  # type: ignore[no-untyped-def]
    """First SIGTERM/SIGINT: stop claiming, give the job ``grace`` seconds, then
    release it; a second signal releases it at once."""

    def on_signal(signum: int, _frame: object) -> None:
        if the_worker.stop.is_set():
            the_worker.abort.set()
            return
        logging.getLogger("happyhorse.worker").info("signal %d: finishing the running job (grace %gs)", signum, grace)
        the_worker.stop.set()
        timer = threading.Timer(grace, the_worker.abort.set)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _run_uvicorn(app, host: str, port: int, settings) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from happyhorse.api.server_config import uvicorn_config

    # After a graceful shutdown uvicorn re-raises the signal that stopped it, to
    # the handler in place before it started; with the default one the process
    # would die "killed by SIGTERM" (-15/143). A SIGTERM stop is a clean exit (0),
    # as for `happyhorse worker`; before uvicorn takes over, it exits at once.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # The connection guard, proxy trust and log redaction of api.server_config, whatever the HTTP parser.
    config = uvicorn_config(app, host=host, port=port, settings=settings,
                            log_level=os.environ.get("HAPPYHORSE_LOG_LEVEL", "info").lower(),
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:  # e.g. the port is taken: uvicorn has logged why; exit as uvicorn.run does
        raise SystemExit(3)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _configure_logging() -> None:
    level = os.environ.get("HAPPYHORSE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic narrates every plugin at INFO; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
