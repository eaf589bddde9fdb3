"""``eta_seconds`` (SPEC §11) on SQLite and PostgreSQL: null without history, then measured
speed × the jobs ahead; null once ended."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import update

from happyhorse.db.schema import jobs
from happyhorse.settings import Settings
from happyhorse.testing import running_service


def test_eta_comes_from_measured_speed_and_position(database_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret="s")
    with running_service(settings, worker=False) as live, httpx.Client(
        base_url=live.base_url, headers=live.headers(live.new_account_key("eta", credits="10")), timeout=30
    ) as http:
        ids = [http.post("/v1/videos/generations", json={"prompt": "x", "duration": 5}).json()["job_id"]
               for _ in range(4)]
        assert [http.get(f"/v1/jobs/{i}").json()["eta_seconds"] for i in ids] == [None] * 4  # no history
        # History: the first job ran 10 s for 5 output seconds (2 s per second of 720p).
        with live.runtime.db.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == ids[0])
                         .values(status="completed", started_at=jobs.c.created_at, completed_at=jobs.c.created_at + 10))
        live.runtime.speed._cached = None  # the cache holds for a few seconds
        etas = [http.get(f"/v1/jobs/{i}").json()["eta_seconds"] for i in ids[1:]]
        assert etas == [10, 20, 30]  # own run + one typical run per job ahead (no worker seen: one assumed)
        listed = {job["job_id"]: job["eta_seconds"] for job in http.get("/v1/jobs").json()["data"]}
        assert listed[ids[0]] is None and [listed[i] for i in ids[1:]] == etas
        claimed = live.runtime.queue.claim_next(worker_id="w")
        assert claimed is not None and claimed.id == ids[1]
        running = http.get(f"/v1/jobs/{ids[1]}").json()
        assert running["status"] == "running" and 0 < running["eta_seconds"] <= 10
        assert http.get(f"/v1/jobs/{ids[2]}").json()["eta_seconds"] == 10  # moved up
        quoted = http.post("/v1/videos/generations/quote", json={"prompt": "x", "duration": 5}).json()
        assert quoted["eta_seconds"] == 30  # behind the two still queued
