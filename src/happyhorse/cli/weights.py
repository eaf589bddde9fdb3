"""``happyhorse weights check|download``: LTX-2 weights directories for the ``ltx2`` engine.

``check`` reads only small JSON files and works on any install. ``download``
is the one command that fetches weights, and only when an operator runs it:
nothing downloads at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

weights_app = typer.Typer(help="Check or download LTX-2 weights for the ltx2 engine.", no_args_is_help=True)

WeightsDir = Annotated[Path, typer.Argument(help="A diffusers-format LTX-2 directory.")]


@weights_app.command("check")
def check(directory: WeightsDir) -> None:
    """Say what DIRECTORY holds and what is missing; exit 0 when complete, 1 when not."""
    from happyhorse.engines.ltx2.weights import check_weights, format_size

    report = check_weights(directory)
    for problem in report.problems:
        typer.echo(f"  MISSING  {problem}")
    for component in report.components:
        what = f"{component.library or '?'} {component.class_name or '?'}"
        if component.ok:
            typer.echo(f"  ok       {component.name:<14} {what}  ({component.files} files, "
                       f"{format_size(component.bytes)})")
        else:
            typer.echo(f"  MISSING  {component.name:<14} {component.problem}")
    if report.complete:
        typer.echo(f"complete: {report.path} ({report.pipeline_class}) can serve --engine ltx2")
        return
    typer.echo(f"incomplete: {report.path} lacks {', '.join(report.missing)}", err=True)
    raise typer.Exit(1)


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
