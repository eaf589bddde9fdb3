"""What the client commands (``generate``, ``jobs``, ``models``) share: connection
options, building a Client, the progress bar and the exit codes.

Exit codes: 0 done; 1 the job failed or was cancelled; 2 a usage error (bad
option, missing file, no API key); 3 an API error (any non-2xx answer, or no
answer at all); 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from happyhorse.client import APIError, Client, HappyHorseError, Job, JobNotCompletedError
from happyhorse.settings import default_data_dir

EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_API_ERROR = 3
EXIT_INTERRUPTED = 130

ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="HAPPYHORSE_API_KEY", show_default=False,
        help="API key (default: $HAPPYHORSE_API_KEY, else the dev key `happyhorse serve` saved in the data dir).",
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", envvar="HAPPYHORSE_BASE_URL", help="The API's base URL (default http://127.0.0.1:8000)."),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the JSON object(s) on stdout, for scripts.")]

# Human-facing messages and the progress bar go to stderr; stdout carries results (a path, an id, JSON).
stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)


def open_client(api_key: str | None, base_url: str | None) -> Client:
    """A Client from the options; without a key, the dev key that ``happyhorse serve`` keeps."""
    if not api_key:
        dev_key = default_data_dir() / "dev-api-key"
        if dev_key.is_file():
            api_key = dev_key.read_text().strip() or None
    if not api_key:
        stderr.print("error: no API key: pass --api-key or set HAPPYHORSE_API_KEY")
        raise typer.Exit(EXIT_USAGE)
    return Client(api_key=api_key, base_url=base_url)


@contextmanager
def exit_codes() -> Iterator[None]:
    """Turn the SDK's exceptions into a message on stderr and the documented exit code."""
    try:
        yield
    except JobNotCompletedError as error:
        stderr.print(f"error: {error}")
        raise typer.Exit(EXIT_JOB_FAILED) from error
    except APIError as error:
        stderr.print(f"error: {error}")
        raise typer.Exit(EXIT_API_ERROR) from error
    except (HappyHorseError, FileNotFoundError, IsADirectoryError) as error:
        stderr.print(f"error: {error}")
        raise typer.Exit(EXIT_USAGE) from error


def print_json(value: Any) -> None:
    """``value`` (a model or a list of models) as JSON on stdout."""
    if isinstance(value, list):
        data: Any = [item.model_dump(mode="json") for item in value]
    else:
        data = value.model_dump(mode="json")
    typer.echo(json.dumps(data, indent=2))


def engine_note(job: Job) -> str:
    if job.engine == "preview":
        return " [dim](engine preview: procedural, no neural network)[/dim]"
    return f" [dim](engine {job.engine})[/dim]" if job.engine else ""


def eta_text(seconds: int | None) -> str:
    """``eta_seconds`` for people ("~1m 05s"); empty when there is none."""
    if seconds is None:
        return ""
    minutes, secs = divmod(seconds, 60)
    return f"~{minutes}m {secs:02d}s" if minutes else f"~{secs}s"


def describe(job: Job) -> str:
    """One line about a job: id, status, mode, size, duration."""
    request = job.request
    size = f"{job.video.width}x{job.video.height}" if job.video else f"{request.aspect_ratio or 'auto'} {request.resolution}"
    line = f"{job.job_id}  {job.status}  {request.mode}  {size}  {request.duration}s"
    if job.status == "queued" and job.queue_position:
        line += f"  position {job.queue_position}"
    elif job.status == "running":
        line += f"  {job.progress}%"
    if job.status in ("queued", "running") and job.eta_seconds is not None:
        line += f"  eta {eta_text(job.eta_seconds)}"
    elif job.status == "failed" and job.error:
        line += f"  {job.error.code}: {job.error.message}"
    return line


class JobProgressBar:
    """A live bar on stderr: queue position while queued, then percent, the ETA once the server has one,
    and the elapsed time."""

    def __init__(self, console: Console = stderr) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> JobProgressBar:
        self._progress.start()
        self._task = self._progress.add_task("submitted", total=100)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._progress.stop()

    def update(self, job: Job) -> None:
        """Show ``job``'s state (pass this as ``on_progress``)."""
        assert self._task is not None
        self._progress.update(self._task, completed=job.progress, description=self.label(job))

    @staticmethod
    def label(job: Job) -> str:
        details = [f"position {job.queue_position}"] if job.status == "queued" and job.queue_position else []
        if job.eta_seconds is not None:
            details.append(f"eta {eta_text(job.eta_seconds)}")
        suffix = f" ({', '.join(details)})" if details else ""
        match job.status:
            case "queued":
                return "queued" + suffix
            case "running":
                return "generating" + suffix
            case "completed":
                return "done"
            case "failed":
                return "failed"
            case "cancelled":
                return "cancelled"


def human_size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} kB"
