"""Operator commands for stored files: ``happyhorse storage sweep``."""

from __future__ import annotations

from typing import Annotated

import typer

from happyhorse.cli.options import DATABASE, STORAGE, SWEEP, with_settings
from happyhorse.settings import Settings

storage_app = typer.Typer(help="Stored files (outputs and uploads).", no_args_is_help=True)


@storage_app.command("sweep")
# The sweep's own grace and upload TTL, under the names this command has always had ("--grace").
@with_settings(SWEEP.only("sweep_grace", "upload_ttl").renamed(sweep_grace="--grace").in_panel(None), DATABASE,
               STORAGE)
def storage_sweep(
    settings: Settings,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be deleted.")] = False,
) -> None:
    """Delete orphaned files: outputs of ended jobs and uploads that no database row points at.

    Prints one line per file, "deleted KEY BYTES" (or "would delete KEY BYTES"
    with --dry-run; hidden temp files that a killed write left end in "(left
    by an unfinished write)"), then a summary. Exits 1 if a file could not be deleted.
    Files of queued and running jobs are never touched.
    """
    from happyhorse.cli.server import open_runtime_or_exit
    from happyhorse.storage.sweep import OrphanSweeper

    runtime = open_runtime_or_exit(settings)
    try:
        sweeper = OrphanSweeper(runtime.db, runtime.storage, grace_seconds=settings.storage_sweep_grace_seconds,
                                lookback_seconds=None, dry_run=dry_run, upload_ttl_seconds=settings.upload_ttl_seconds)
        report = sweeper.sweep_all()
    finally:
        runtime.close()
    verb = "would delete" if dry_run else "deleted"
    for obj in report.deleted:
        typer.echo(f"{verb} {obj.key} {obj.bytes}")
    for name in report.debris:
        typer.echo(f"{verb} {name} (left by an unfinished write)")
    for key in report.expired:
        typer.echo(f"{verb} {key} (an expired upload)")
    typer.echo(f"{verb} {len(report.deleted)} orphaned files ({report.bytes_deleted} bytes), "
               f"{len(report.expired)} expired uploads and "
               f"{len(report.debris)} leftovers of unfinished writes; "
               f"checked {report.jobs_checked} ended jobs and {report.uploads_checked} uploads")
    for key in report.failed:
        typer.echo(f"error: could not delete {key}", err=True)
    if report.failed:
        raise typer.Exit(1)
