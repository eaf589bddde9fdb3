"""Submit-to-claim latency: from the POST to the job's claim by a worker.

    .venv/bin/python bench/submit_to_claim.py [--jobs 30]                                   # embedded default
    .venv/bin/python bench/submit_to_claim.py --postgres postgresql://postgres@127.0.0.1/postgres [--jobs 30]

Embedded default (target p50 < 100 ms): what `happyhorse serve` runs — the API
on a loopback port, one in-process worker, SQLite (WAL), local files, the
preview engine.

``--postgres URL`` (target p50 < 50 ms): a fresh database on that server, the
API in this process and one separate worker process (``happyhorse worker`` on
the preview engine: bench/_worker_process.py), measured twice in the same run:
with LISTEN/NOTIFY wake-ups (the product) and, as the baseline, with the
worker polling only (every 0.5 s, as before wake-ups). Prints both and the
ratio.

Each round, one job at a time: note the time, POST /v1/videos/generations,
read the job's ``started_at`` (set by the claim, from the database clock) once
a worker has it, then cancel the job and wait for its end, so the next one
finds the worker idle and asleep.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import percentile, summary  # noqa: E402

from happyhorse.settings import Settings  # noqa: E402
from happyhorse.testing import LiveService, running_service  # noqa: E402

WORKER = Path(__file__).with_name("_worker_process.py")


def measure(live: LiveService, jobs: int) -> list[float]:
    queue, latencies = live.runtime.queue, []
    with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
        for _ in range(jobs):
            time.sleep(0.2)  # the worker is back in its wait
            submitted_at = time.time()
            job_id = client.post("/v1/videos/generations", json={"prompt": "latency probe", "duration": 3}).json()["job_id"]
            while (job := queue.get(job_id)).started_at is None:
                time.sleep(0.001)
            latencies.append(job.started_at - submitted_at)
            client.post(f"/v1/jobs/{job_id}/cancel")
            while queue.get(job_id).status not in ("cancelled", "completed"):
                time.sleep(0.005)
    return latencies


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"hh_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def worker_process(data_dir: Path, database_url: str, *, listen: bool) -> Iterator[None]:
    command = [sys.executable, str(WORKER), "--data-dir", str(data_dir), "--database-url", database_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
    popen = subprocess.Popen(command + ([] if listen else ["--no-listen"]), env=env, stdin=subprocess.DEVNULL)
    try:
        time.sleep(3)  # loaded, registered and listening
        yield
    finally:
        popen.terminate()
        popen.wait(30)


def embedded(jobs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, running_service(Settings(data_dir=Path(tmp))) as live:
        latencies = measure(live, jobs)
    print("submit-to-claim latency, embedded default (POST sent -> claimed by the in-process worker):")
    print("  " + summary(latencies))


def separate_worker(admin_url: str, jobs: int) -> None:
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, fresh_database(admin_url) as url:
        settings = Settings(data_dir=Path(tmp), database_url=url, signing_secret="bench")
        with running_service(settings, worker=False) as live:
            for name, listen in (("wake-ups (LISTEN/NOTIFY)", True), ("baseline: polling only", False)):
                with worker_process(Path(tmp), url, listen=listen):
                    results[name] = measure(live, jobs)
    print("submit-to-claim latency, PostgreSQL, API in this process, one separate worker process:")
    for name, latencies in results.items():
        print(f"  {name:26} {summary(latencies)}")
    woken, polled = (percentile(v, 50) for v in results.values())
    print(f"  p50 ratio wake-ups / polling: {woken / polled:.3f} (x{polled / woken:.1f} faster)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--postgres", metavar="URL", help="measure a separate worker process on this server "
                        "(a fresh database is made and dropped)")
    args = parser.parse_args()
    if args.postgres:
        separate_worker(args.postgres, args.jobs)
    else:
        embedded(args.jobs)


if __name__ == "__main__":
    main()
