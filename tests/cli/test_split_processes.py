"""The one-host split: one ``happyhorse api`` and two ``happyhorse worker``
processes sharing a SQLite database (WAL mode) and a data dir (local files).

The same shape on PostgreSQL with S3, two APIs and three workers, is
tests/cli/test_scale_out.py.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import time

import httpx
import pytest
from sqlalchemy import create_engine, select

from happyhorse.db.schema import jobs
from happyhorse.testing import free_port

pytestmark = pytest.mark.slow

JOBS = 4


@pytest.fixture
def shared_db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'hh.db'}"


def test_one_api_two_workers(hh, processes, shared_db, tmp_path) -> None:
    data_dir = tmp_path / "data"
    common = ["--database-url", shared_db, "--data-dir", str(data_dir)]
    # Migrate once up front, as an operator would; every process also upgrades on start (a no-op).
    assert hh.run("db", "upgrade", *common).stdout.startswith("database at revision ")

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api = processes.start("api", "api", "--host", "127.0.0.1", "--port", str(port), *common)
    workers = [processes.start(f"worker{i}", "worker", *common) for i in (1, 2)]

    hh.run("accounts", "create", "acme", *common)
    hh.run("credits", "add", "acme", "10", *common)  # each job holds its price
    key = hh.run("keys", "create", "--account", "acme", *common).stdout.strip()
    assert key.startswith("hh_live_")

    hh.wait_healthy(base_url, api)
    for worker in workers:
        hh.wait_for_log(worker, " ready (engine preview serving t2v, i2v, r2v)")

    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        job_ids = []
        for i in range(JOBS):
            submitted = client.post(
                "/v1/videos/generations",
                json={"model": "happyhorse-1-1", "prompt": f"a horse, take {i}", "duration": 3, "resolution": "720p"},
            )
            assert submitted.status_code == 202, submitted.text
            job_ids.append(submitted.json()["job_id"])

        deadline = time.monotonic() + 90
        pending = set(job_ids)
        finished: dict[str, dict] = {}
        while pending:
            for job_id in sorted(pending):
                status = client.get(f"/v1/jobs/{job_id}").json()
                if status["status"] in ("completed", "failed", "cancelled"):
                    finished[job_id] = status
                    pending.discard(job_id)
            if pending:
                if time.monotonic() > deadline:
                    logs = "\n".join(p.output()[-2000:] for p in (api, *workers))
                    pytest.fail(f"jobs not done in time: {sorted(pending)}\n{logs}")
                for proc in (api, *workers):
                    assert proc.popen.poll() is None, f"{proc.name} died\n{proc.output()[-3000:]}"
                time.sleep(0.25)

        for job_id, status in finished.items():
            assert status["status"] == "completed", status
            url = status["result"]["outputs"][0]["url"]
            assert url.startswith(base_url), url  # loopback only
            video = httpx.get(url, timeout=30)
            assert video.status_code == 200, video.text
            assert video.headers["content-type"] == "video/mp4"
            assert video.content[4:8] == b"ftyp", video.content[:16]
            assert len(video.content) == status["result"]["outputs"][0]["bytes"]

    # worker_id stays on a finished job (who produced it): the jobs were spread over both workers.
    engine = create_engine(shared_db)
    try:
        with engine.connect() as conn:
            by_job = dict(conn.execute(select(jobs.c.id, jobs.c.worker_id).where(jobs.c.id.in_(job_ids))).all())
    finally:
        engine.dispose()
    assert set(by_job) == set(job_ids) and all(by_job.values()), by_job
    assert len(set(by_job.values())) == 2, by_job
    with sqlite3.connect(data_dir / "hh.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # ... and each worker's own log says which ones it completed.
    completed_in_logs = {}
    for worker in workers:
        done = set(re.findall(r"job (\S+) completed", worker.output()))
        assert done, f"{worker.name} completed nothing\n{worker.output()[-2000:]}"
        completed_in_logs[worker.name] = done
    assert completed_in_logs["worker1"].isdisjoint(completed_in_logs["worker2"])
    assert completed_in_logs["worker1"] | completed_in_logs["worker2"] == set(job_ids)

    # SIGTERM: every process exits promptly and cleanly.
    started = time.monotonic()
    for proc in (api, *workers):
        proc.popen.send_signal(signal.SIGTERM)
    codes = {
        proc.name: proc.stop(timeout=max(1.0, 30 - (time.monotonic() - started)), send=False)
        for proc in (api, *workers)
    }
    assert codes == {"api": 0, "worker1": 0, "worker2": 0}, codes
    for worker in workers:
        assert " stopped" in worker.output()
