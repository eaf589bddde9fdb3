"""``happyhorse weights check|download``: weights directories for the ``ltx2`` and ``magihuman`` engines.

``--engine`` picks the layout (default ``ltx2``); ``magihuman``'s is described in
:mod:`happyhorse.engines.magihuman.weights`.

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

weights_app = typer.Typer(help="Check or download weights for the ltx2 (LTX-2 / LTX-2.3) or magihuman engine.",
                          no_args_is_help=True)

WeightsDir = Annotated[Path, typer.Argument(help="A diffusers-format LTX-2 or LTX-2.3 directory.")]
EngineName = Annotated[str, typer.Option("--engine", help="Whose layout: ltx2 or magihuman.")]
UpsamplerDir = Annotated[Path | None, typer.Option(
    "--upsampler", help="A latent upsampler kept apart from DIRECTORY (default: DIRECTORY/latent_upsampler).")]


@weights_app.command("check")
def check(directory: WeightsDir, upsampler: UpsamplerDir = None, engine: EngineName = "ltx2") -> None:
    """Say what DIRECTORY holds, which generation it is and what is missing; exit 0 when complete, 1 when not."""
    if engine == "magihuman":
        _check_magihuman(directory)
        return
    if engine != "ltx2":
        typer.echo(f"error: --engine must be ltx2 or magihuman, got {engine!r}", err=True)
        raise typer.Exit(2)
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


def _check_magihuman(directory: Path) -> None:
    from happyhorse.engines.magihuman.weights import check_weights

    report = check_weights(directory)
    for part in report.parts:
        if part.ok:
            typer.echo(f"  ok       {part.name:<14} {part.path}  ({part.source})")
        else:
            label = "optional" if part.optional else "MISSING "
            typer.echo(f"  {label} {part.name:<14} {part.problem}  (from {part.source})")
    if report.complete:
        typer.echo(f"complete: {report.path} can serve --engine magihuman")
        return
    typer.echo(f"incomplete: {report.path} lacks {', '.join(report.missing)} "
               f"(`happyhorse weights download --engine magihuman {report.path}` fetches them)", err=True)
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
    engine: EngineName = "ltx2",
    profile: Annotated[str, typer.Option("--profile", help="magihuman: distilled, base or both.")] = "distilled",
) -> None:
    """Download weights into DIRECTORY (needs internet and the diffusion extra), then check them.

    ltx2: a diffusers-format repository (--repo-id). magihuman: the chosen profile's DiT, both SR DiTs
    and the three external components (T5Gemma, the Wan 2.2 VAE, Stable Audio Open's VAE)."""
    if engine == "magihuman":
        from happyhorse.engines.magihuman.weights import download_weights as download_magihuman

        profiles = ("distilled", "base") if profile == "both" else (profile,)
        typer.echo(f"downloading daVinci-MagiHuman ({', '.join(profiles)}) and its components into {directory} ...")
        try:
            download_magihuman(directory, profiles=profiles, token=token)
        except ImportError as exc:
            typer.echo(f"error: {exc} (pip install huggingface_hub)", err=True)
            raise typer.Exit(2) from None
        _check_magihuman(directory)
        return
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
