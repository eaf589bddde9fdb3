"""Submit-to-claim latency on the embedded default (target: p50 < 100 ms).

    .venv/bin/python bench/submit_to_claim.py [--jobs 30]

Runs what `happyhorse serve` runs — the API on a loopback port, one in-process
worker, SQLite (WAL), local files, the preview engine — then, one job at a
time: note the time, POST /v1/videos/generations, and read the job's
``started_at`` (set by the claim, from the database clock) once a worker has
it. The job is then cancelled so the next one finds the worker idle.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import summary  # noqa: E402

from happyhorse.settings import Settings  # noqa: E402
from happyhorse.testing import running_service  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=30)
    args = parser.parse_args()
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, running_service(Settings(data_dir=Path(tmp))) as live:
        queue = live.runtime.queue
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
            for _ in range(args.jobs):
                submitted_at = time.time()
                job_id = client.post("/v1/videos/generations", json={"prompt": "latency probe", "duration": 3}).json()["job_id"]
                while (job := queue.get(job_id)).started_at is None:
                    time.sleep(0.001)
                latencies.append(job.started_at - submitted_at)
                client.post(f"/v1/jobs/{job_id}/cancel")
                while queue.get(job_id).status not in ("cancelled", "completed"):
                    time.sleep(0.005)
    print("submit-to-claim latency (POST sent -> claimed by the worker):")
    print("  " + summary(latencies))


if __name__ == "__main__":
    main()
