"""The API killed between commit and response; the client retries with the same
Idempotency-Key: one job, one hold, and the retry's answer names that job.

No worker runs: the job stays queued, so the hold stays pending and the
answers can be compared exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from happyhorse.accounts import create_key
from happyhorse.db.schema import holds, idempotency_keys, jobs
from happyhorse.testing import free_port, wait_for_health

from .conftest import Chaos

CRASHING_API = Path(__file__).with_name("crashing_api.py")


def _start_api(chaos: Chaos, port: int, marker: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
    with log.open("a") as out:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(
            [sys.executable, str(CRASHING_API), "--data-dir", str(chaos.runtime.settings.data_dir), "--database-url",
             chaos.runtime.settings.resolved_database_url, "--port", str(port), "--crash-marker", str(marker)],
            stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
        )
    chaos.pool.extra.append(popen)
    if not wait_for_health(f"http://127.0.0.1:{port}", timeout=30, alive=lambda: popen.poll() is None):
        pytest.fail(f"API did not start (rc {popen.poll()})\n{log.read_text()[-3000:]}")
    return popen


def _count(chaos: Chaos, table, **where) -> int:  # type: ignore[no-untyped-def]
    with chaos.runtime.db.connect() as conn:
        stmt = select(func.count()).select_from(table)
        for column, value in where.items():
            stmt = stmt.where(table.c[column] == value)
        return conn.execute(stmt).scalar_one()


def test_api_killed_after_commit_then_a_retry_with_the_same_key_gets_the_same_job(
    chaos: Chaos, tmp_path: Path
) -> None:
    key = create_key(chaos.runtime.db, chaos.account_id).key
    marker, log, port = tmp_path / "crash-next-submit", tmp_path / "api.log", free_port()
    marker.touch()
    api = _start_api(chaos, port, marker, log)
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}", "Idempotency-Key": "retry-me"}
    body = {"prompt": "a horse", "duration": 3}

    with pytest.raises(httpx.TransportError):  # the connection drops: no answer at all
        httpx.post(f"{base}/v1/videos/generations", json=body, headers=headers, timeout=10)
    assert api.wait(10) == 137 and not marker.exists()
    # The crash came after the commit: the job, its hold and the key are there.
    assert _count(chaos, jobs, account_id=chaos.account_id) == 1

    _start_api(chaos, port, marker, log)  # what the supervisor does
    first = httpx.post(f"{base}/v1/videos/generations", json=body, headers=headers, timeout=10)
    again = httpx.post(f"{base}/v1/videos/generations", json=body, headers=headers, timeout=10)
    assert first.status_code == 200 and first.headers.get("Idempotent-Replayed") == "true", first.text
    assert again.status_code == 200 and again.json()["job_id"] == first.json()["job_id"]
    with chaos.runtime.db.connect() as conn:
        (job_id,) = conn.execute(select(jobs.c.id).where(jobs.c.account_id == chaos.account_id)).scalars().all()
        hold_states = conn.execute(select(holds.c.state).where(holds.c.job_id == job_id)).scalars().all()
        key_rows = conn.execute(select(idempotency_keys.c.state)).scalars().all()
    assert first.json()["job_id"] == job_id
    assert hold_states == ["pending"] and key_rows == ["done"]
