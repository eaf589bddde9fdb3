"""Operator commands for stored files: ``happyhorse storage sweep``."""

from __future__ import annotations

from typing import Annotated

import typer

from happyhorse.cli.options import (
    DatabaseUrl,
    DataDir,
    S3Bucket,
    S3EndpointUrl,
    S3Prefix,
    S3Region,
    StorageKind,
    default_dir,
    make_settings,
    storage_settings,
)
from happyhorse.settings import Settings

storage_app = typer.Typer(help="Stored files (outputs and uploads).", no_args_is_help=True)


@storage_app.command("sweep")
def storage_sweep(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be deleted.")] = False,
    grace: Annotated[
        float,
        typer.Option("--grace", envvar="HAPPYHORSE_SWEEP_GRACE", metavar="SECONDS", min=0,
                     help="Leave files of jobs that ended (uploads stored) less than this long ago."),
    ] = Settings.storage_sweep_grace_seconds,
    upload_ttl: Annotated[
        float,
        typer.Option("--upload-ttl", envvar="HAPPYHORSE_UPLOAD_TTL", metavar="SECONDS", min=0,
                     help="Delete uploads unused for this long that no queued or running job names (0: keep them)."),
    ] = Settings.upload_ttl_seconds,
    data_dir: DataDir = default_dir(),
    database_url: DatabaseUrl = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_prefix: S3Prefix = None,
    s3_endpoint_url: S3EndpointUrl = None,
    s3_region: S3Region = None,
) -> None:
    """Delete orphaned files: outputs of ended jobs and uploads that no database row points at.

    Prints one line per file, "deleted KEY BYTES" (or "would delete KEY BYTES"
    with --dry-run; hidden temp files that a killed write left end in "(left
    by an unfinished write)"), then a summary. Exits 1 if a file could not be deleted.
    Files of queued and running jobs are never touched.
    """
    from happyhorse.cli.server import open_runtime_or_exit
    from happyhorse.storage.sweep import OrphanSweeper

    runtime = open_runtime_or_exit(make_settings(
        data_dir, database_url, **storage_settings(storage=storage, bucket=s3_bucket, prefix=s3_prefix,
                                                   endpoint_url=s3_endpoint_url, region=s3_region)))
    try:
        sweeper = OrphanSweeper(runtime.db, runtime.storage, grace_seconds=grace, lookback_seconds=None,
                                dry_run=dry_run, upload_ttl_seconds=upload_ttl)
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
