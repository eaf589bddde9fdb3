"""``DELETE /v1/jobs/{id}`` (SPEC §11) over real HTTP, on SQLite and PostgreSQL: files gone,
404 afterwards, not listed, the ledger intact, 409 for jobs that have not ended."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from happyhorse.db.schema import holds, jobs, ledger_entries, outputs, uploads
from happyhorse.settings import Settings
from happyhorse.storage.sweep import OrphanSweeper
from happyhorse.testing import LiveService, running_service

pytestmark = pytest.mark.slow


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[LiveService]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret="s")
    with running_service(settings) as live:
        yield live


def png(width: int = 640, height: int = 480) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def wait_for_end(http: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (job := http.get(f"/v1/jobs/{job_id}").json())["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def count(live: LiveService, table, **where: object) -> int:  # type: ignore[no-untyped-def]
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with live.runtime.db.connect() as conn:
        return int(conn.execute(query).scalar_one())


def stored(live: LiveService, prefix: str) -> list[str]:
    return [obj.key for obj in live.runtime.storage.list_objects(prefix)]


def test_delete_empties_storage_and_keeps_the_ledger(service: LiveService) -> None:
    with httpx.Client(base_url=service.base_url, headers=service.headers(service.new_account_key("del", credits="5")),
                      timeout=30) as http:
        shared = http.post("/v1/uploads", files={"file": ("h.png", png(), "image/png")}).json()["upload_id"]
        inline = http.post("/v1/videos/generations", files={"image": ("i.png", png(700, 500), "image/png")},
                           data={"prompt": "a horse", "duration": "3"})
        assert inline.status_code == 202, inline.text
        first = http.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3, "image": shared})
        other = http.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3, "image": shared})
        ids = [r.json()["job_id"] for r in (inline, first, other)]
        for job_id in ids:
            assert wait_for_end(http, job_id)["status"] == "completed"
        inline_id = ids[0]
        [inline_upload] = service.runtime.queue.get(inline_id).request.inputs
        assert stored(service, f"outputs/{inline_id}/") and stored(service, f"uploads/{inline_upload.upload_id}.")
        ledger_before = count(service, ledger_entries)

        deleted = http.delete(f"/v1/jobs/{inline_id}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"id": inline_id, "object": "video.generation.job.deleted", "deleted": True}
        assert stored(service, f"outputs/{inline_id}/") == []
        assert stored(service, f"uploads/{inline_upload.upload_id}.") == []
        assert count(service, uploads, id=inline_upload.upload_id) == 0
        assert count(service, outputs, job_id=inline_id) == 0
        for path in (f"/v1/jobs/{inline_id}", f"/v1/jobs/{inline_id}/content"):
            assert http.get(path).json()["error"]["code"] == "job_not_found"
        assert http.delete(f"/v1/jobs/{inline_id}").status_code == 404  # a second delete
        assert inline_id not in [job["job_id"] for job in http.get("/v1/jobs").json()["data"]]
        # The ledger keeps its entries, the hold its row, the job its row (for them).
        assert count(service, ledger_entries) == ledger_before
        assert count(service, holds, job_id=inline_id, state="captured") == 1
        assert count(service, jobs, id=inline_id) == 1
        assert http.get("/v1/account").json()["spent_this_month_usd"] == "1.26"

        # An upload another live job still names stays until that job goes too.
        assert http.delete(f"/v1/jobs/{ids[1]}").status_code == 200
        assert stored(service, f"uploads/{shared}.") and count(service, uploads, id=shared) == 1
        assert http.delete(f"/v1/jobs/{ids[2]}").status_code == 200
        assert stored(service, f"uploads/{shared}.") == [] and count(service, uploads, id=shared) == 0

        # The orphan sweep finds nothing of the deleted jobs to trip on.
        report = OrphanSweeper(service.runtime.db, service.runtime.storage, grace_seconds=0).sweep_all()
        assert report.deleted == [] and report.expired == []
        assert all(stored(service, f"outputs/{job_id}/") == [] for job_id in ids)


def test_only_ended_jobs_can_be_deleted(database_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret="s")
    with running_service(settings, worker=False) as idle, httpx.Client(
        base_url=idle.base_url, headers=idle.headers(idle.new_account_key("q", credits="5")), timeout=30
    ) as http:
        job_id = http.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3}).json()["job_id"]
        refused = http.delete(f"/v1/jobs/{job_id}")
        assert refused.status_code == 409, refused.text
        assert (refused.json()["error"]["code"], refused.json()["error"]["param"]) == ("job_not_ended", "job_id")
        claimed = idle.runtime.queue.claim_next(worker_id="w")
        assert claimed is not None and claimed.id == job_id
        assert http.delete(f"/v1/jobs/{job_id}").json()["error"]["code"] == "job_not_ended"  # running
        assert http.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
        idle.runtime.queue.acknowledge_cancel(claimed)
        assert http.delete(f"/v1/jobs/{job_id}").status_code == 200
        assert http.get(f"/v1/jobs/{job_id}").status_code == 404
        # Another account's job and a malformed id are 404s, not 409s.
        other = httpx.Client(base_url=idle.base_url, headers=idle.headers(idle.new_account_key("o")), timeout=30)
        queued = http.post("/v1/videos/generations", json={"prompt": "b", "duration": 3}).json()["job_id"]
        assert other.delete(f"/v1/jobs/{queued}").status_code == 404
        assert http.delete("/v1/jobs/nope").status_code == 404
        other.close()


def test_an_idempotency_key_never_makes_a_second_job_after_its_job_was_deleted(database_url: str,
                                                                               tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret="s")
    with running_service(settings, worker=False) as idle, httpx.Client(
        base_url=idle.base_url, headers=idle.headers(idle.new_account_key("k", credits="5")), timeout=30
    ) as http:
        body, key = {"prompt": "a horse", "duration": 3}, {"Idempotency-Key": "order-42"}
        job_id = http.post("/v1/videos/generations", json=body, headers=key).json()["job_id"]
        assert http.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
        assert http.delete(f"/v1/jobs/{job_id}").status_code == 200
        holds_before = count(idle, holds)
        replay = http.post("/v1/videos/generations", json=body, headers=key)
        assert replay.status_code == 404, replay.text
        error = replay.json()["error"]
        assert error["code"] == "job_deleted" and job_id in error["message"] and "new Idempotency-Key" in error["message"]
        assert replay.headers["x-should-retry"] == "false"
        assert count(idle, jobs) == 1 and count(idle, holds) == holds_before  # nothing made, nothing held
        fresh = http.post("/v1/videos/generations", json=body, headers={"Idempotency-Key": "order-43"})
        assert fresh.status_code == 202 and fresh.json()["job_id"] != job_id
