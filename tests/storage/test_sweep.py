"""The orphan sweep, on SQLite and PostgreSQL, with a real LocalStorage in a temp dir.

Jobs are moved with the queue itself (claim, complete, fail); "ended long
ago" is made by moving ``completed_at`` back, and "stored long ago" by
moving a file's modified time back.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import update

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits
from happyhorse.db.schema import jobs
from happyhorse.submit.request import parse_generation_request
from happyhorse.jobs.model import ClaimedJob
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.storage.sweep import OrphanSweeper
from happyhorse.submit.service import submit_generation
from happyhorse.inputs.uploads import insert_upload, store_image

HOUR = 3600.0


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret="s"))
    yield runtime
    runtime.close()


@pytest.fixture
def account_id(runtime: Runtime) -> str:
    account = create_account(runtime.db, "sweep-tests")
    grant_credits(runtime.db, account.id, Decimal("1000"))
    return account.id


def _claimed(runtime: Runtime, account_id: str) -> ClaimedJob:
    """A new job, claimed at once (so the lease is this job's)."""
    request = parse_generation_request({"prompt": "a horse", "duration": 3, "seed": 7})
    job = submit_generation(runtime, account_id, request, [])[0]
    lease = runtime.queue.claim_next("w", lease_seconds=600)
    assert lease is not None and lease.job.id == job.id
    return lease


def _store_attempt(runtime: Runtime, job_id: str, token: int | str) -> list[str]:
    """What a worker stores for one attempt: a video and a poster under the attempt's folder."""
    keys = [f"outputs/{job_id}/{token}/video.mp4", f"outputs/{job_id}/{token}/poster.jpg"]
    for key in keys:
        runtime.storage.put_bytes(key, b"x" * 10, "application/octet-stream")
    return keys


def _complete(runtime: Runtime, lease: ClaimedJob) -> list[str]:
    video, poster = _store_attempt(runtime, lease.job.id, lease.lease_token)
    rows = [
        {"kind": "video", "storage_key": video, "content_type": "video/mp4", "bytes": 10, "width": 64, "height": 64},
        {"kind": "poster", "storage_key": poster, "content_type": "image/jpeg", "bytes": 10, "width": 64, "height": 64},
    ]
    assert runtime.queue.complete(lease, result={"outputs": []}, outputs=rows)
    return [video, poster]


def _ended_long_ago(runtime: Runtime, *job_ids: str) -> None:
    with runtime.db.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id.in_(job_ids)).values(completed_at=jobs.c.completed_at - 2 * HOUR))


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 320), "white").save(buf, "PNG")
    return buf.getvalue()


def _age(runtime: Runtime, key: str, seconds: float) -> None:
    path = runtime.settings.files_dir / key
    then = time.time() - seconds
    os.utime(path, (then, then))


def _stored(runtime: Runtime) -> set[str]:
    return {obj.key for obj in runtime.storage.list_objects("")}


def _sweeper(runtime: Runtime, **kwargs) -> OrphanSweeper:  # type: ignore[no-untyped-def]
    return OrphanSweeper(runtime.db, runtime.storage, **{"grace_seconds": HOUR, **kwargs})


def test_orphans_of_ended_jobs_go_and_everything_else_stays(runtime: Runtime, account_id: str) -> None:
    done = _claimed(runtime, account_id)
    zombie_files = _store_attempt(runtime, done.job.id, "99")  # a killed attempt's folder
    stray = f"outputs/{done.job.id}/stray.bin"
    runtime.storage.put_bytes(stray, b"?", "application/octet-stream")
    kept = _complete(runtime, done)

    failed = _claimed(runtime, account_id)
    failed_files = _store_attempt(runtime, failed.job.id, failed.lease_token)
    assert runtime.queue.fail(failed, code="generation_failed", message="boom")

    running = _claimed(runtime, account_id)
    running_files = _store_attempt(runtime, running.job.id, running.lease_token)
    _ended_long_ago(runtime, done.job.id, failed.job.id)

    report = _sweeper(runtime).sweep_once()

    assert {obj.key for obj in report.deleted} == {*zombie_files, stray, *failed_files}
    assert report.bytes_deleted == 10 * 4 + 1
    assert report.jobs_checked == 2 and report.failed == []
    assert _stored(runtime) == {*kept, *running_files}
    assert runtime.storage.get_bytes(kept[0]) == b"x" * 10
    # The emptied folders went with their files.
    assert not (runtime.settings.files_dir / "outputs" / failed.job.id).exists()


def test_jobs_within_the_grace_period_are_left_for_a_later_pass(runtime: Runtime, account_id: str) -> None:
    lease = _claimed(runtime, account_id)
    orphan = _store_attempt(runtime, lease.job.id, "7")
    kept = _complete(runtime, lease)

    sweeper = _sweeper(runtime)
    assert sweeper.sweep_once().deleted == []
    assert _stored(runtime) == {*orphan, *kept}

    _ended_long_ago(runtime, lease.job.id)  # time passes
    assert {obj.key for obj in sweeper.sweep_once().deleted} == set(orphan)
    assert _stored(runtime) == set(kept)


def test_dry_run_lists_but_deletes_nothing(runtime: Runtime, account_id: str) -> None:
    lease = _claimed(runtime, account_id)
    orphan = _store_attempt(runtime, lease.job.id, "7")
    kept = _complete(runtime, lease)
    runtime.storage.put_bytes("uploads/upload_0orphan.png", _png(), "image/png")
    _age(runtime, "uploads/upload_0orphan.png", 2 * HOUR)
    before = _stored(runtime)

    report = _sweeper(runtime, grace_seconds=0, dry_run=True).sweep_all()

    assert report.dry_run
    assert {obj.key for obj in report.deleted} == {*orphan, "uploads/upload_0orphan.png"}
    assert _stored(runtime) == before == {*orphan, *kept, "uploads/upload_0orphan.png"}


def test_uploads_without_a_row_go_once_old_enough(runtime: Runtime, account_id: str) -> None:
    png = _png()
    # An upload that was recorded, and one whose transaction never committed.
    recorded_id, info = store_image(runtime.storage, png, param="file", max_bytes=10_000_000)
    with runtime.db.begin() as conn:
        recorded = insert_upload(conn, recorded_id, account_id, png, info)
    orphan_id, _ = store_image(runtime.storage, png, param="file", max_bytes=10_000_000)
    orphan = f"uploads/{orphan_id}.png"
    fresh_id, _ = store_image(runtime.storage, png, param="file", max_bytes=10_000_000)
    fresh = f"uploads/{fresh_id}.png"  # maybe its submit is still committing
    odd = "uploads/notes.txt"  # not an upload key: never ours to judge
    runtime.storage.put_bytes(odd, b"hand-made", "text/plain")
    for key in (recorded.storage_key, orphan, odd):
        _age(runtime, key, 2 * HOUR)

    report = _sweeper(runtime).sweep_once()

    assert [obj.key for obj in report.deleted] == [orphan]
    assert report.uploads_checked == 4
    assert _stored(runtime) == {recorded.storage_key, fresh, odd}


def test_batches_continue_where_the_last_one_stopped(runtime: Runtime, account_id: str) -> None:
    leases = [_claimed(runtime, account_id) for _ in range(5)]
    for lease in leases:
        _store_attempt(runtime, lease.job.id, "99")
        assert runtime.queue.fail(lease, code="generation_failed", message="boom")
    for index in range(5):
        runtime.storage.put_bytes(f"uploads/upload_{index}orphan.png", b"x", "image/png")
        _age(runtime, f"uploads/upload_{index}orphan.png", 2 * HOUR)
    _ended_long_ago(runtime, *(lease.job.id for lease in leases))

    sweeper = _sweeper(runtime, batch=2)
    first = sweeper.sweep_once()
    assert (first.jobs_checked, first.uploads_checked, len(first.deleted)) == (2, 2, 2 * 2 + 2)
    second, third = sweeper.sweep_once(), sweeper.sweep_once()
    assert (second.jobs_checked, second.uploads_checked, len(second.deleted)) == (2, 2, 2 * 2 + 2)
    assert (third.jobs_checked, third.uploads_checked, len(third.deleted)) == (1, 1, 2 + 1)
    assert _stored(runtime) == set()
    # Nothing new has ended; the uploads cursor went back to the start.
    assert (sweeper.sweep_once().jobs_checked, sweeper.sweep_once().uploads_checked) == (0, 0)
    # A full sweep starts over, whatever the cursors say.
    assert sweeper.sweep_all().jobs_checked == 5


def test_a_periodic_sweeper_starts_at_its_lookback(runtime: Runtime, account_id: str) -> None:
    lease = _claimed(runtime, account_id)
    orphan = _store_attempt(runtime, lease.job.id, "99")
    _complete(runtime, lease)
    _ended_long_ago(runtime, lease.job.id)  # ended 2 h ago

    assert _sweeper(runtime, grace_seconds=0, lookback_seconds=HOUR).sweep_once().deleted == []
    assert {obj.key for obj in _sweeper(runtime, grace_seconds=0, lookback_seconds=None).sweep_once().deleted} == set(
        orphan)


def test_a_file_that_cannot_be_deleted_is_reported_and_skipped(runtime: Runtime, account_id: str, monkeypatch) -> None:
    leases = [_claimed(runtime, account_id) for _ in range(2)]
    orphans = [_store_attempt(runtime, lease.job.id, "99")[0] for lease in leases]
    for lease in leases:
        assert runtime.queue.fail(lease, code="generation_failed", message="boom")
    real_delete = runtime.storage.delete

    def delete(key: str) -> None:
        if key == orphans[0]:
            raise PermissionError(13, "Permission denied", key)
        real_delete(key)

    monkeypatch.setattr(runtime.storage, "delete", delete)
    report = _sweeper(runtime, grace_seconds=0).sweep_all()
    assert report.failed == [orphans[0]]
    assert orphans[1] in {obj.key for obj in report.deleted}
    assert orphans[0] not in {obj.key for obj in report.deleted}


class _NoEngine:
    name = "stub"


def test_the_worker_sweeps_a_batch_every_interval_from_its_reaper_pass(runtime: Runtime, account_id: str) -> None:
    from happyhorse.worker import Worker

    lease = _claimed(runtime, account_id)
    orphan = _store_attempt(runtime, lease.job.id, "99")
    kept = _complete(runtime, lease)
    runtime.settings.storage_sweep_grace_seconds = 0
    runtime.settings.storage_sweep_interval_seconds = 0.3
    worker = Worker(runtime, _NoEngine())  # type: ignore[arg-type]

    worker.housekeeping.run_due()  # not at start: the first pass is one interval in
    assert _stored(runtime) == {*orphan, *kept}
    time.sleep(0.35)
    worker.housekeeping.run_due()
    assert _stored(runtime) == set(kept)


def test_a_failing_sweep_does_not_stop_the_worker_and_0_turns_it_off(runtime: Runtime, account_id: str,
                                                                    monkeypatch) -> None:
    from happyhorse.worker import Worker

    lease = _claimed(runtime, account_id)
    orphan = _store_attempt(runtime, lease.job.id, "99")
    assert runtime.queue.fail(lease, code="generation_failed", message="boom")
    runtime.settings.storage_sweep_grace_seconds = 0
    runtime.settings.storage_sweep_interval_seconds = 0
    worker = Worker(runtime, _NoEngine())  # type: ignore[arg-type]
    worker.housekeeping.run_due()
    assert _stored(runtime) == set(orphan)

    runtime.settings.storage_sweep_interval_seconds = 0.01
    time.sleep(0.02)

    def broken(prefix: str, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("storage is down")

    monkeypatch.setattr(runtime.storage, "list_objects", broken)
    worker.housekeeping.run_due()  # logged, not raised
    monkeypatch.undo()
    time.sleep(0.02)
    worker.housekeeping.run_due()
    assert _stored(runtime) == set()



def _leftover(runtime: Runtime, name: str, age: float) -> str:
    path = runtime.settings.files_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half")
    _age(runtime, name, age)
    return name


def test_leftovers_of_killed_writes_go_under_ended_jobs_and_uploads(runtime: Runtime, account_id: str) -> None:
    done = _claimed(runtime, account_id)
    kept = _complete(runtime, done)
    running = _claimed(runtime, account_id)
    gone = [
        _leftover(runtime, f"outputs/{done.job.id}/98/.video.mp4.abcd1234.tmp", 2 * HOUR),
        _leftover(runtime, f"outputs/{done.job.id}/98/.video.mp4.content-type", 2 * HOUR),
    ]
    fresh = _leftover(runtime, f"outputs/{done.job.id}/97/.video.mp4.abcd1234.tmp", 0)
    live = _leftover(runtime, f"outputs/{running.job.id}/{running.lease_token}/.video.mp4.abcd1234.tmp", 2 * HOUR)
    upload = _leftover(runtime, "uploads/.upload_0x.png.abcd1234.tmp", 2 * HOUR)
    _ended_long_ago(runtime, done.job.id)
    files = runtime.settings.files_dir

    dry = _sweeper(runtime, dry_run=True).sweep_all()
    assert dry.debris == [*gone, upload]
    assert all((files / name).exists() for name in [*gone, upload])

    periodic = _sweeper(runtime).sweep_once()  # a periodic pass leaves uploads/ leftovers to the full sweep
    assert periodic.debris == gone
    assert not (files / "outputs" / done.job.id / "98").exists()
    assert (files / fresh).exists() and (files / live).exists() and (files / upload).exists()
    assert _sweeper(runtime).sweep_all().debris == [upload]
    assert not (files / upload).exists()
    assert _stored(runtime) == set(kept)


def test_a_store_without_debris_is_swept_all_the_same(runtime: Runtime, account_id: str) -> None:
    from happyhorse.storage import MemoryStorage

    runtime.storage = MemoryStorage()
    lease = _claimed(runtime, account_id)
    orphan = _store_attempt(runtime, lease.job.id, "99")
    kept = _complete(runtime, lease)
    report = _sweeper(runtime, grace_seconds=0).sweep_all()
    assert {obj.key for obj in report.deleted} == set(orphan) and report.debris == []
    assert runtime.storage.keys() == sorted(kept)  # type: ignore[attr-defined]


def test_an_s3_bucket_is_swept_like_a_folder(sqlite_url: str, tmp_path: Path, s3_bucket: str, s3_endpoint: str) -> None:
    """The same rules on S3 (moto's server on loopback): "old" comes from the sweeper's clock, as S3 sets its own times."""
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_url, signing_secret="s", storage="s3",
                        s3_bucket=s3_bucket, s3_prefix="fleet", s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    runtime = Runtime.open(settings)
    try:
        account = create_account(runtime.db, "s3-sweep")
        grant_credits(runtime.db, account.id, Decimal("100"))
        done = _claimed(runtime, account.id)
        orphan = _store_attempt(runtime, done.job.id, "99")
        kept = _complete(runtime, done)
        running = _claimed(runtime, account.id)
        live = _store_attempt(runtime, running.job.id, running.lease_token)
        runtime.storage.put_bytes("uploads/upload_0orphan.png", _png(), "image/png")
        _ended_long_ago(runtime, done.job.id)

        later = _sweeper(runtime, clock=lambda: time.time() + 2 * HOUR).sweep_all()

        assert {obj.key for obj in later.deleted} == {*orphan, "uploads/upload_0orphan.png"}
        assert later.debris == [] and later.failed == []
        assert _stored(runtime) == {*kept, *live}
        assert not settings.files_dir.exists()  # nothing went to local disk
    finally:
        runtime.close()
