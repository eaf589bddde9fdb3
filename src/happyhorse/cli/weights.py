"""``happyhorse weights check|download``: LTX-2 / LTX-2.3 weights directories for the ``ltx2`` engine.

``check`` reads only small JSON files and works on any install; it says which
generation it found and whether two-stage 1080p is available (a latent
upsampler is there). ``download`` is the one command that fetches weights, and
only when an operator runs it: nothing downloads at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from happyhorse.engines.ltx2.weights import ComponentStatus

weights_app = typer.Typer(help="Check or download LTX-2 / LTX-2.3 weights for the ltx2 engine.",
                          no_args_is_help=True)

WeightsDir = Annotated[Path, typer.Argument(help="A diffusers-format LTX-2 or LTX-2.3 directory.")]
UpsamplerDir = Annotated[Path | None, typer.Option(
    "--upsampler", help="A latent upsampler kept apart from DIRECTORY (default: DIRECTORY/latent_upsampler).")]


@weights_app.command("check")
def check(directory: WeightsDir, upsampler: UpsamplerDir = None) -> None:
    """Say what DIRECTORY holds, which generation it is and what is missing; exit 0 when complete, 1 when not."""
    from happyhorse.engines.ltx2.weights import check_weights

    report = check_weights(directory, upsampler=upsampler)
    for problem in report.problems:
        typer.echo(f"  MISSING  {problem}")
    for component in report.components:
        _echo_component(component)
    if report.upsampler is not None:
        _echo_component(report.upsampler)
    if report.family:
        typer.echo(f"  family   {report.family} (vocoder {report.vocoder or '?'})")
    if report.upsampler is None:
        typer.echo("  two-stage 1080p: not available (no latent_upsampler/; give --upsampler DIR if it is apart)")
    elif report.upsampler.ok:
        typer.echo("  two-stage 1080p: available")
    if report.complete:
        typer.echo(f"complete: {report.path} ({report.family}, {report.pipeline_class}) can serve --engine ltx2")
        return
    typer.echo(f"incomplete: {report.path} lacks {', '.join(report.missing)}", err=True)
    raise typer.Exit(1)


def _echo_component(component: ComponentStatus) -> None:
    from happyhorse.engines.ltx2.weights import format_size

    if component.ok:
        what = f"{component.library or '?'} {component.class_name or '?'}"
        typer.echo(f"  ok       {component.name:<16} {what}  ({component.files} files, {format_size(component.bytes)})")
    else:
        typer.echo(f"  MISSING  {component.name:<16} {component.problem}")


@weights_app.command("download")
def download(
    directory: WeightsDir,
    repo_id: Annotated[str, typer.Option("--repo-id", help="Hugging Face repository (diffusers format).")] = "",
    revision: Annotated[str | None, typer.Option("--revision", help="Branch, tag or commit.")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar="HF_TOKEN",
                                              help="Hugging Face token (gated repositories).")] = None,
) -> None:
    """Download LTX-2 weights into DIRECTORY (needs internet and the diffusion extra), then check them."""
    from happyhorse.engines.ltx2.options import EngineUnavailable
    from happyhorse.engines.ltx2.weights import DEFAULT_REPO_ID, download_weights

    repo = repo_id or DEFAULT_REPO_ID
    typer.echo(f"downloading {repo}{'@' + revision if revision else ''} into {directory} ...")
    try:
        download_weights(directory, repo_id=repo, revision=revision, token=token)
    except EngineUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    check(directory)
