"""``happyhorse storage sweep [--dry-run]``, run as a real subprocess on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits
from happyhorse.db.schema import jobs
from happyhorse.submit.request import parse_generation_request
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.submit.service import submit_generation


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path) -> tuple[Path, str | None]:
    """(data dir, database URL or None for the data dir's own SQLite)."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        return data_dir, None
    return data_dir, request.getfixturevalue("postgres_url")


def _world(data_dir: Path, url: str | None) -> tuple[list[str], list[str], list[str]]:
    """A completed job (its output, plus a killed attempt's folder) and a running
    job with files; returns (kept outputs, orphans, running job's files)."""
    runtime = Runtime.open(Settings(data_dir=data_dir, database_url=url, signing_secret="s"))
    try:
        account = create_account(runtime.db, "sweep")
        grant_credits(runtime.db, account.id, Decimal("100"))
        request = parse_generation_request({"prompt": "a horse", "duration": 3, "seed": 7})
        leases = []
        for _ in range(2):
            submit_generation(runtime, account.id, request, [])
            leases.append(runtime.queue.claim_next("w", lease_seconds=600))
        done, running = leases
        keys = {name: f"outputs/{done.job.id}/{done.lease_token}/{name}" for name in ("video.mp4", "poster.jpg")}
        orphans = [f"outputs/{done.job.id}/99/video.mp4", f"outputs/{done.job.id}/99/poster.jpg"]
        running_files = [f"outputs/{running.job.id}/{running.lease_token}/video.mp4"]
        for key in [*keys.values(), *orphans, *running_files]:
            runtime.storage.put_bytes(key, b"12345", "application/octet-stream")
        rows = [{"kind": kind, "storage_key": keys[name], "content_type": "video/mp4", "bytes": 5, "width": 64,
                 "height": 64} for kind, name in (("video", "video.mp4"), ("poster", "poster.jpg"))]
        assert runtime.queue.complete(done, result={"outputs": []}, outputs=rows)
        with runtime.db.begin() as conn:  # it ended two hours ago
            conn.execute(update(jobs).where(jobs.c.id == done.job.id).values(completed_at=jobs.c.completed_at - 7200))
        # A worker killed half way through writing a poster, an hour ago.
        debris = runtime.settings.files_dir / "outputs" / done.job.id / "98" / ".poster.jpg.abcd1234.tmp"
        debris.parent.mkdir(parents=True)
        debris.write_bytes(b"half")
        os.utime(debris, (time.time() - 3600, time.time() - 3600))
        return list(keys.values()), orphans, running_files
    finally:
        runtime.close()


def test_storage_sweep_dry_run_then_for_real(hh, target) -> None:
    data_dir, url = target
    db = ["--data-dir", str(data_dir)] + (["--database-url", url] if url else [])
    kept, orphans, running_files = _world(data_dir, url)
    files = data_dir / "files"

    debris = f"outputs/{kept[0].split('/')[1]}/98/.poster.jpg.abcd1234.tmp"
    summary = ("{} 2 orphaned files (10 bytes), 0 expired uploads and 1 leftovers of unfinished writes; "
               "checked 1 ended jobs and 0 uploads")

    dry = hh.run("storage", "sweep", "--dry-run", *db)
    assert dry.stdout.splitlines() == [
        *(f"would delete {key} 5" for key in sorted(orphans)),
        f"would delete {debris} (left by an unfinished write)",
        summary.format("would delete"),
    ]
    assert all((files / key).is_file() for key in [*kept, *orphans, *running_files, debris])

    # A grace longer than the job has been over: nothing to do yet.
    assert hh.run("storage", "sweep", "--grace", str(3 * 3600), *db).stdout.splitlines() == [
        "deleted 0 orphaned files (0 bytes), 0 expired uploads and 0 leftovers of unfinished writes; "
        "checked 0 ended jobs and 0 uploads"]

    done = hh.run("storage", "sweep", *db)
    assert done.stdout.splitlines() == [
        *(f"deleted {key} 5" for key in sorted(orphans)),
        f"deleted {debris} (left by an unfinished write)",
        summary.format("deleted"),
    ]
    assert not any((files / key).exists() for key in [*orphans, debris])
    assert all((files / key).is_file() for key in [*kept, *running_files])


def test_storage_sweep_rejects_a_negative_grace(hh, tmp_path) -> None:
    done = hh.run("storage", "sweep", "--grace", "-1", "--data-dir", str(tmp_path / "data"), check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
