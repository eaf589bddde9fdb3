"""``happyhorse generate``: submit a job, follow it with a progress bar, save the MP4;
or, with ``--quote``, only ask what it would cost and when it would be done."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.prompt import Confirm

from happyhorse.cli.client_support import (
    EXIT_INTERRUPTED,
    ApiKey,
    BaseUrl,
    JobProgressBar,
    JsonOutput,
    describe,
    engine_note,
    eta_text,
    exit_codes,
    human_size,
    open_client,
    print_json,
    stderr,
    stdout,
)
from happyhorse.client import Client, Job, Quote


class Mode(str, Enum):
    auto = "auto"
    t2v = "t2v"
    i2v = "i2v"
    r2v = "r2v"


class AspectRatio(str, Enum):
    landscape = "16:9"
    portrait = "9:16"
    square = "1:1"
    classic = "4:3"
    classic_portrait = "3:4"


class Resolution(str, Enum):
    hd = "720p"
    full_hd = "1080p"


POLL_INTERVAL = 0.5


def generate(
    prompt: Annotated[str, typer.Argument(help="What to generate; name reference images character1…character9.")],
    image: Annotated[
        list[str] | None,
        typer.Option("--image", "-i", help="A local file, URL, data URI or upload id; repeat for r2v (up to 9)."),
    ] = None,
    mode: Annotated[Mode, typer.Option(help="auto picks t2v/i2v/r2v from the images.")] = Mode.auto,
    aspect_ratio: Annotated[AspectRatio | None, typer.Option(help="t2v and r2v (default 16:9); i2v follows the image.")] = None,
    resolution: Annotated[Resolution | None, typer.Option(help="Default 720p.")] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds, 3-15 (default 5).")] = None,
    seed: Annotated[int | None, typer.Option(help="0-2147483647; random when omitted.")] = None,
    watermark: Annotated[bool, typer.Option("--watermark", help='Draw "Happy Horse" bottom-right.')] = False,
    model: Annotated[str | None, typer.Option(help="Default happyhorse-1-1.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to save the MP4 (default ./<job_id>.mp4).")
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Print the job id at once and exit.")] = False,
    quote: Annotated[
        bool, typer.Option("--quote", help="Print the price, balance and ETA of this request; submit nothing.")
    ] = False,
    as_json: JsonOutput = False,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Generate a video: submit, show progress, save the MP4, print its path.

    With --quote: print what it would cost and when it would be done, and submit nothing
    (exit 0 even when the balance is short: see "affordable"; 3 if a rule refuses the request).

    Exit codes: 0 done, 1 the job failed or was cancelled, 2 usage error, 3 API error,
    130 interrupted (Ctrl-C asks whether to cancel the job)."""
    try:
        if quote:
            _quote(prompt, image, mode, aspect_ratio, resolution, duration, seed, watermark, model, as_json,
                   api_key, base_url)
            return
        _generate(prompt, image, mode, aspect_ratio, resolution, duration, seed, watermark, model, output, no_wait,
                  as_json, api_key, base_url)
    except KeyboardInterrupt:  # during submit or download (the wait handles its own)
        stderr.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _request_fields(
    prompt: str, image: list[str] | None, mode: Mode, aspect_ratio: AspectRatio | None, resolution: Resolution | None,
    duration: int | None, seed: int | None, watermark: bool, model: str | None,
) -> dict[str, Any]:
    """The command's options as the SDK's arguments (shared by a submit and a quote); unset ones stay unset."""
    return dict(
        prompt=prompt,
        image=image or None,
        mode=None if mode is Mode.auto else mode.value,
        aspect_ratio=aspect_ratio.value if aspect_ratio else None,
        resolution=resolution.value if resolution else None,
        duration=duration,
        seed=seed,
        watermark=watermark or None,
        model=model,
    )


def _generate(
    prompt: str, image: list[str] | None, mode: Mode, aspect_ratio: AspectRatio | None, resolution: Resolution | None,
    duration: int | None, seed: int | None, watermark: bool, model: str | None, output: Path | None, no_wait: bool,
    as_json: bool, api_key: str | None, base_url: str | None,
) -> None:
    with exit_codes(), open_client(api_key, base_url) as client:
        job = client.videos.generate(
            **_request_fields(prompt, image, mode, aspect_ratio, resolution, duration, seed, watermark,
                              model)
        )
        if no_wait:
            if as_json:
                print_json(job)
            else:
                typer.echo(job.job_id)
            return
        stderr.print(f"submitted {describe(job)}")
        job = _wait_with_progress(client, job)
        saved = client.jobs.download(job, output)
        stderr.print(f"saved {saved} ({human_size(saved)}, {job.video.width}x{job.video.height}, "  # type: ignore[union-attr]
                     f"{job.request.duration}s, seed {job.request.seed}){engine_note(job)}")
        if as_json:
            print_json(job)
        else:
            typer.echo(str(saved))


def _quote(
    prompt: str, image: list[str] | None, mode: Mode, aspect_ratio: AspectRatio | None, resolution: Resolution | None,
    duration: int | None, seed: int | None, watermark: bool, model: str | None, as_json: bool,
    api_key: str | None, base_url: str | None,
) -> None:
    with exit_codes(), open_client(api_key, base_url) as client:
        quote = client.videos.quote(
            **_request_fields(prompt, image, mode, aspect_ratio, resolution, duration, seed, watermark,
                              model)
        )
    if as_json:
        print_json(quote)
    else:
        print_quote(quote)


def print_quote(quote: Quote) -> None:
    """The quote for people, on stdout: price, balance, ETA, then the request as it would run."""
    request = quote.request
    size = f"{request.width}x{request.height}" if request.width else "follows the image"
    stdout.print(f"price: ${quote.price_usd} ({quote.billed_seconds}s at ${quote.unit_price_usd}/s)")
    stdout.print(f"available: ${quote.available_usd} ("
                 + ("affordable" if quote.affordable else "[bold]NOT affordable[/bold]: top up before submitting")
                 + ")")
    stdout.print(f"eta: {eta_text(quote.eta_seconds) or 'unknown (no completed jobs to measure yet)'}")
    stdout.print(f"request: {request.model} {request.mode} {request.aspect_ratio or 'auto'} {request.resolution} "
                 f"({size}), {request.duration}s, seed {request.seed if request.seed is not None else 'random'}, "
                 f"{request.images} image{'s' if request.images != 1 else ''}"
                 + (", watermark" if request.watermark else ""))
    stdout.print("[dim]nothing was submitted[/dim]")


def _wait_with_progress(client: Client, job: Job) -> Job:
    """Wait for ``job`` behind a live bar; on Ctrl-C offer to cancel it (exit 130 either way)."""
    bar = JobProgressBar()
    try:
        with bar:
            return client.jobs.wait(job, on_progress=bar.update, poll_interval=POLL_INTERVAL)
    except KeyboardInterrupt:
        bar.stop()
        _on_interrupt(client, job)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _on_interrupt(client: Client, job: Job) -> None:
    # Without a terminal to ask on, leave the job alone: the caller can still fetch it.
    keeps_running = f"job {job.job_id} keeps running; get it later with: happyhorse jobs download {job.job_id}"
    if not sys.stdin.isatty():
        stderr.print(f"interrupted; {keeps_running}")
        return
    try:
        cancel = Confirm.ask(f"Cancel job {job.job_id}?", default=False, console=stderr)
    except (KeyboardInterrupt, EOFError):
        cancel = False
    if cancel:
        client.jobs.cancel(job)
        stderr.print(f"cancelled job {job.job_id}")
    else:
        stderr.print(keeps_running)
