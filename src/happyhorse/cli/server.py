"""``happyhorse serve``, ``api`` and ``worker``: running the service."""

from __future__ import annotations

import logging
import os
import signal

import typer

from happyhorse.cli.options import (
    DATABASE,
    ENGINE,
    FETCH,
    HTTP,
    LIMITS,
    LISTEN,
    LOGGING,
    LTX2,
    METRICS,
    SHUTDOWN,
    SIGNUP,
    STORAGE,
    SWEEP,
    with_settings,
)
from happyhorse.settings import Settings


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(api)
    app.command()(worker)


@with_settings(LISTEN, DATABASE, ENGINE, FETCH, SIGNUP, LTX2, LIMITS, SWEEP, STORAGE, HTTP, LOGGING, METRICS)
def serve(settings: Settings) -> None:
    """Run everything in one process: the API, one worker, SQLite and (unless --storage s3) local files."""
    from happyhorse.app import create_app
    from happyhorse.cli.bootstrap import DEV_CREDIT, ensure_dev_key
    from happyhorse.web.bootstrap import ensure_dev_user, signup_banner
    from happyhorse.worker import Worker, WorkerThread

    _configure_logging(settings.log_format)
    # Options were all checked as the settings were built: a bad one has exited before the engine loads.
    the_engine = _load_engine_or_exit(settings.engine, settings.engine_options)
    host, port, engine = settings.host, settings.port, settings.engine
    runtime = open_runtime_or_exit(settings)
    ensure_dev_key(runtime, echo=typer.echo)
    ensure_dev_user(runtime, f"http://{host}:{port}", echo=typer.echo)
    typer.echo(signup_banner(settings, f"http://{host}:{port}", dev_credit=DEV_CREDIT))
    worker_thread = WorkerThread(Worker(runtime, the_engine), grace_seconds=settings.shutdown_grace_seconds)
    typer.echo(f"happyhorse: API on http://{host}:{port} (docs at /docs), engine {engine}, data in {settings.data_dir}")
    _serve_metrics_or_exit(runtime, settings)
    _run_uvicorn(create_app(runtime, worker=worker_thread), host, port, settings)


# The API fetches image URLs at submit (FETCH); it runs no engine, but names it on the model card (ENGINE).
@with_settings(LISTEN, DATABASE, ENGINE, FETCH, SIGNUP, LIMITS.without("max_running_jobs"), STORAGE, HTTP,
               LOGGING, METRICS)
def api(settings: Settings) -> None:
    """Run only the API (workers run separately against the same --database-url)."""
    from happyhorse.app import create_app

    _configure_logging(settings.log_format)
    runtime = open_runtime_or_exit(settings)
    _serve_metrics_or_exit(runtime, settings)
    _run_uvicorn(create_app(runtime), settings.host, settings.port, settings)


@with_settings(DATABASE, ENGINE, FETCH, SHUTDOWN, LTX2, LIMITS.only("max_running_jobs", "max_image_bytes"), SWEEP,
               STORAGE, LOGGING, METRICS.without("metrics_token"))
def worker(settings: Settings) -> None:
    """Run one worker: claims jobs from the database and generates them (one per GPU)."""
    from happyhorse.worker import Worker

    _configure_logging(settings.log_format)
    # Options were all checked as the settings were built: a bad one has exited before the engine loads.
    the_engine = _load_engine_or_exit(settings.engine, settings.engine_options)
    runtime = open_runtime_or_exit(settings)
    _serve_metrics_or_exit(runtime, settings)
    the_worker = Worker(runtime, the_engine)
    _install_shutdown(the_worker, settings.shutdown_grace_seconds)
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


def _serve_metrics_or_exit(runtime, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """With ``--metrics-port``: this process's metrics on their own listener (a daemon thread, gone
    with the process); a port that cannot be bound exits 2 with why."""
    if settings.metrics_port is None:
        return
    from happyhorse.metrics import start_metrics_server

    try:
        server = start_metrics_server(runtime.metrics, settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        typer.echo(f"happyhorse: cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc}",
                   err=True)
        raise typer.Exit(2) from None
    typer.echo(f"happyhorse: metrics on {server.url}")


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
        the_worker.shut_down(grace)  # the same two phases as serve's WorkerThread.stop_and_join

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


def _configure_logging(log_format: str = "text") -> None:
    from happyhorse.logs import configure_logging

    configure_logging(log_format)
