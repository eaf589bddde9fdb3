"""Issue 10, finding 9: uploads expire when unused, and an account's stored uploads are capped.

On SQLite and PostgreSQL, with a real LocalStorage: "unused for a day" is made by
moving ``uploads.last_used_at`` back; the sweep is the one workers run.
The quota is checked over the real HTTP API on a loopback port.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, update

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits
from happyhorse.db.schema import uploads
from happyhorse.submit.request import parse_generation_request
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.storage.sweep import OrphanSweeper
from happyhorse.submit.service import submit_generation
from happyhorse.testing import running_service
from happyhorse.inputs.uploads import insert_upload, store_image

DAY = 24 * 3600.0


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret="s"))
    yield runtime
    runtime.close()


@pytest.fixture
def account_id(runtime: Runtime) -> str:
    account = create_account(runtime.db, "expiry-tests")
    grant_credits(runtime.db, account.id, Decimal("1000"))
    return account.id


def _png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 320), (shade, 80, 120)).save(buffer, "PNG")
    return buffer.getvalue()


def _upload(runtime: Runtime, account_id: str, shade: int) -> tuple[str, str]:
    data = _png(shade)
    upload_id, info = store_image(runtime.storage, data, param="file", max_bytes=10 * 1024 * 1024)
    with runtime.db.begin() as conn:
        upload = insert_upload(conn, upload_id, account_id, data, info)
    return upload.id, upload.storage_key


def _unused_for(runtime: Runtime, seconds: float, *upload_ids: str) -> None:
    with runtime.db.begin() as conn:
        conn.execute(update(uploads).where(uploads.c.id.in_(upload_ids))
                     .values(last_used_at=uploads.c.last_used_at - seconds))


def _rows(runtime: Runtime) -> set[str]:
    with runtime.db.connect() as conn:
        return set(conn.execute(select(uploads.c.id)).scalars())


def _sweeper(runtime: Runtime, **kwargs) -> OrphanSweeper:  # type: ignore[no-untyped-def]
    return OrphanSweeper(runtime.db, runtime.storage, grace_seconds=3600, upload_ttl_seconds=DAY, **kwargs)


def test_an_upload_unused_past_its_ttl_is_deleted_row_and_file(runtime: Runtime, account_id: str) -> None:
    old_id, old_key = _upload(runtime, account_id, 1)
    fresh_id, fresh_key = _upload(runtime, account_id, 2)
    _unused_for(runtime, DAY + 60, old_id)

    report = _sweeper(runtime).sweep_once()

    assert report.expired == [old_key]
    assert _rows(runtime) == {fresh_id}
    assert not runtime.storage.exists(old_key)
    assert runtime.storage.exists(fresh_key)


def test_a_dry_run_lists_expired_uploads_and_deletes_nothing(runtime: Runtime, account_id: str) -> None:
    old_id, old_key = _upload(runtime, account_id, 1)
    _unused_for(runtime, DAY + 60, old_id)

    report = _sweeper(runtime, dry_run=True).sweep_all()

    assert report.expired == [old_key]
    assert _rows(runtime) == {old_id}
    assert runtime.storage.exists(old_key)


def test_an_upload_a_queued_job_names_is_kept_however_old(runtime: Runtime, account_id: str) -> None:
    upload_id, key = _upload(runtime, account_id, 1)
    request = parse_generation_request({"prompt": "a horse", "image": upload_id, "duration": 3})
    submit_generation(runtime, account_id, request, [])  # queued: no worker here
    _unused_for(runtime, 10 * DAY, upload_id)

    report = _sweeper(runtime).sweep_all()

    assert report.expired == []
    assert _rows(runtime) == {upload_id}
    assert runtime.storage.exists(key)


def test_naming_an_upload_in_a_submit_counts_as_using_it(runtime: Runtime, account_id: str) -> None:
    upload_id, key = _upload(runtime, account_id, 1)
    _unused_for(runtime, DAY + 60, upload_id)
    request = parse_generation_request({"prompt": "a horse", "image": upload_id, "duration": 3})
    job = submit_generation(runtime, account_id, request, [])[0]
    runtime.queue.request_cancel(account_id, job.id)  # the job is over: only the fresh use keeps the upload

    assert _sweeper(runtime).sweep_all().expired == []
    assert _rows(runtime) == {upload_id}


def test_with_no_ttl_uploads_never_expire(runtime: Runtime, account_id: str) -> None:
    upload_id, _ = _upload(runtime, account_id, 1)
    _unused_for(runtime, 100 * DAY, upload_id)
    sweeper = OrphanSweeper(runtime.db, runtime.storage, grace_seconds=3600, upload_ttl_seconds=0)
    assert sweeper.sweep_all().expired == []
    assert _rows(runtime) == {upload_id}


def test_the_expiry_walks_past_a_full_batch_of_uploads_still_in_use(runtime: Runtime, account_id: str) -> None:
    in_use = [_upload(runtime, account_id, shade)[0] for shade in (1, 2)]
    for upload_id in in_use:
        request = parse_generation_request({"prompt": "a horse", "image": upload_id, "duration": 3})
        submit_generation(runtime, account_id, request, [])
    expired_id, expired_key = _upload(runtime, account_id, 3)
    _unused_for(runtime, DAY + 60, *in_use)
    _unused_for(runtime, DAY + 30, expired_id)  # younger than the two in use: after them in the walk

    sweeper = _sweeper(runtime, batch=2)
    first, second = sweeper.sweep_once(), sweeper.sweep_once()

    assert first.expired == [] and second.expired == [expired_key]
    assert _rows(runtime) == set(in_use)


# -- the quota, over HTTP --------------------------------------------------------------


@pytest.fixture
def quota_service(tmp_path: Path):  # type: ignore[no-untyped-def]
    image = _png(1)
    settings = Settings(data_dir=tmp_path / "quota", signing_secret="s", max_stored_upload_bytes=2 * len(image) + 10)
    with running_service(settings, worker=False) as live:
        yield live


def _post_upload(client: httpx.Client, data: bytes) -> httpx.Response:
    return client.post("/v1/uploads", content=data, headers={"Content-Type": "image/png"})


def test_uploads_past_the_account_quota_are_refused_and_store_nothing(quota_service) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=quota_service.base_url, headers=quota_service.headers(), timeout=30) as client:
        assert _post_upload(client, _png(1)).status_code == 201
        assert _post_upload(client, _png(2)).status_code == 201
        refused = _post_upload(client, _png(3))
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert (error["code"], error["param"]) == ("upload_quota_exceeded", "file")
        assert "at most" in error["message"] and "expire" in error["message"]
        assert refused.headers["Retry-After"].isdigit()
        assert _post_upload(client, _png(1)).status_code == 200  # the same bytes again: the first upload, no copy
        other = quota_service.new_account_key("other")
        assert _post_upload(client, _png(3)).status_code == 429
        assert client.post("/v1/uploads", content=_png(3), headers={"Content-Type": "image/png",
                                                                     "Authorization": f"Bearer {other}"}).status_code == 201
    stored = list(quota_service.runtime.storage.list_objects("uploads/"))
    assert len(stored) == 3  # the refused image was never stored


def test_an_upload_used_after_it_was_listed_is_not_deleted(runtime: Runtime, account_id: str) -> None:
    """The race a sweep runs against a submit: the delete re-checks the use under the row's lock."""
    from happyhorse.db.clock import read_db_now
    from happyhorse.inputs.uploads import delete_expired_upload, expired_uploads, touch_upload

    upload_id, _ = _upload(runtime, account_id, 1)
    _unused_for(runtime, DAY + 60, upload_id)
    with runtime.db.connect() as conn:
        cutoff = read_db_now(conn) - DAY
        listed, _ = expired_uploads(conn, cutoff, limit=10)
    assert [item[0] for item in listed] == [upload_id]
    with runtime.db.begin() as conn:
        assert touch_upload(conn, account_id, upload_id)  # a submit names it now
    with runtime.db.begin() as conn:
        assert not delete_expired_upload(conn, upload_id, cutoff)
    assert _rows(runtime) == {upload_id}
