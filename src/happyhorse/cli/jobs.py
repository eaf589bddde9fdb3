"""``happyhorse jobs list|show|cancel|delete|download`` and ``happyhorse models``."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from happyhorse.cli.client_support import (
    ApiKey,
    BaseUrl,
    JsonOutput,
    describe,
    exit_codes,
    human_size,
    open_client,
    print_json,
    stderr,
    stdout,
)

jobs_app = typer.Typer(help="Your jobs: list, show, cancel, delete, download.", no_args_is_help=True)


@jobs_app.command("list")
def jobs_list(
    limit: Annotated[int, typer.Option(help="How many jobs to show, newest first.")] = 20,
    as_json: JsonOutput = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """List your jobs, newest first."""
    with exit_codes(), open_client(api_key, base_url) as client:
        jobs = list(itertools.islice(client.jobs.list(limit=min(max(limit, 1), 100)), limit))
    if as_json:
        print_json(jobs)
        return
    table = Table("job", "status", "mode", "size", "duration", "progress", "created", "engine")
    for job in jobs:
        size = f"{job.video.width}x{job.video.height}" if job.video else f"{job.request.aspect_ratio or '?'} {job.request.resolution}"
        table.add_row(job.job_id, job.status, job.request.mode, size, f"{job.request.duration}s", f"{job.progress}%",
                      job.created_at.strftime("%Y-%m-%d %H:%M:%S"), job.engine or "")
    stdout.print(table)


@jobs_app.command("show")
def jobs_show(
    job_id: str, as_json: JsonOutput = False, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """Show one job (exit 1 if it failed or was cancelled)."""
    with exit_codes(), open_client(api_key, base_url) as client:
        job = client.jobs.retrieve(job_id)
    if as_json:
        print_json(job)
    else:
        stdout.print(describe(job))
        stdout.print(f"  prompt: {job.request.prompt}")
        if job.usage:
            stdout.print(f"  cost: ${job.usage.cost_usd} ({job.usage.billed_seconds}s at ${job.usage.unit_price_usd}/s)")
    if job.status in ("failed", "cancelled"):
        raise typer.Exit(1)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str, as_json: JsonOutput = False, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """Cancel a queued or running job (an ended job is an API error, exit 3)."""
    with exit_codes(), open_client(api_key, base_url) as client:
        job = client.jobs.cancel(job_id)
    if as_json:
        print_json(job)
    else:
        stdout.print(f"cancel requested: {describe(job)}")


@jobs_app.command("delete")
def jobs_delete(
    job_id: str, as_json: JsonOutput = False, api_key: ApiKey = None, base_url: BaseUrl = None
) -> None:
    """Delete an ended job: its video, poster and input images (its charges stay in the ledger).

    No prompt, like ``keys revoke``. A queued or running job is an API error (409
    job_not_ended: cancel it first), as is an unknown or already deleted one (404): exit 3."""
    with exit_codes(), open_client(api_key, base_url) as client:
        job = client.jobs.retrieve(job_id)
        deleted = client.jobs.delete(job_id)
    if as_json:
        print_json(deleted)
    else:
        stdout.print(f"deleted {describe(job)}")


@jobs_app.command("download")
def jobs_download(
    job_id: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File or directory (default ./<job_id>.mp4).")] = None,
    poster: Annotated[bool, typer.Option("--poster", help="The JPEG poster frame instead of the MP4.")] = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Save a completed job's video (or poster); prints the path."""
    with exit_codes(), open_client(api_key, base_url) as client:
        saved = client.jobs.download(job_id, output, variant="poster" if poster else "video")
    stderr.print(f"saved {saved} ({human_size(saved)})")
    typer.echo(str(saved))


def models(as_json: JsonOutput = False, api_key: ApiKey = None, base_url: BaseUrl = None) -> None:
    """The served model(s): modes, limits, prices, and the engine that makes the videos."""
    with exit_codes(), open_client(api_key, base_url) as client:
        cards = client.models.list()
    if as_json:
        print_json(cards)
        return
    for card in cards:
        engine = card.engine
        kind = "neural network" if engine.neural else "NOT a neural network"
        prices = ", ".join(f"{res} ${price}/s" for res, price in card.pricing.get("per_second", {}).items())
        stdout.print(f"[bold]{card.id}[/bold]  (aliases: {', '.join(card.aliases)})")
        stdout.print(f"  engine: [bold]{engine.name}[/bold] ({kind}): {engine.description}")
        stdout.print(f"  modes: {', '.join(card.modes)}; aspect ratios: {', '.join(card.aspect_ratios)}; "
                     f"resolutions: {', '.join(card.resolutions)}")
        registered = card.workers.registered
        stdout.print(f"  served now: {', '.join(card.served_modes)} "
                     + (f"({registered} worker{'s' if registered != 1 else ''} registered)" if registered
                        else "(no worker registered yet)"))
        stdout.print(f"  duration: {card.duration.get('min')}-{card.duration.get('max')} s at {card.fps} fps; "
                     f"up to {card.max_images} images; prices: {prices}")
