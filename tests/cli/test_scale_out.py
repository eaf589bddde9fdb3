"""The scale-out shape, whole, on loopback: 2 ``happyhorse api`` and 3 ``happyhorse worker`` processes
on PostgreSQL with S3 storage (moto's server), clients spread across both APIs, one worker killed
mid-job. Shown: every job completes once; its output downloads through either API; the rate limit
holds across both APIs within its margin; every process's ``/metrics`` parses as the Prometheus text
format and its counters add up to what the test did."""

from __future__ import annotations

import signal
import time
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select

from happyhorse.db.schema import jobs, outputs
from happyhorse.testing import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

JOBS = 6
TOKEN = "scale-out-metrics-token"
RATE, BURST = 2, 6


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a Prometheus text exposition (which must parse)."""
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def total(found: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(value for n, l, value in found if n == name and all(l.get(k) == v for k, v in labels.items()))


def test_two_apis_three_workers_postgres_s3(hh, processes, postgres_url, s3_bucket, s3_endpoint, tmp_path) -> None:
    common = ["--database-url", postgres_url, "--data-dir", str(tmp_path / "data"), "--storage", "s3",
              "--s3-bucket", s3_bucket, "--s3-endpoint-url", s3_endpoint, "--s3-region", "us-east-1"]
    assert hh.run("db", "upgrade", "--database-url", postgres_url, "--data-dir", str(tmp_path / "data")
                  ).stdout.startswith("database at revision ")
    api_ports = [free_port(), free_port()]
    apis = [processes.start(f"api{i}", "api", "--host", "127.0.0.1", "--port", str(port), "--metrics-token", TOKEN,
                            "--rate-limit", str(RATE), "--rate-limit-burst", str(BURST), *common)
            for i, port in enumerate(api_ports)]
    worker_ports = [free_port() for _ in range(3)]
    workers = [processes.start(f"worker{i}", "worker", "--metrics-port", str(port), *common)
               for i, port in enumerate(worker_ports)]
    store = ["--database-url", postgres_url, "--data-dir", str(tmp_path / "data")]
    hh.run("accounts", "create", "fleet", *store)
    hh.run("credits", "add", "fleet", "100", *store)
    key = hh.run("keys", "create", "--account", "fleet", *store).stdout.strip()
    hh.run("accounts", "create", "hammer", *store)
    hammer_key = hh.run("keys", "create", "--account", "hammer", *store).stdout.strip()
    urls = [f"http://127.0.0.1:{port}" for port in api_ports]
    for url, api in zip(urls, apis):
        hh.wait_healthy(url, api)
    for worker in workers:
        hh.wait_for_log(worker, " ready (engine preview")

    clients = [httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) for url in urls]
    requests_made: Counter[tuple[int, str, str]] = Counter()  # (api index, route, status)
    try:
        job_ids = []
        for n in range(JOBS):  # spread across both APIs, slowly enough for the rate limit of 2/s
            answer = clients[n % 2].post("/v1/videos/generations", json={"prompt": f"horse {n}", "duration": 3})
            assert answer.status_code == 202, answer.text
            requests_made[(n % 2, "/v1/videos/generations", "202")] += 1
            job_ids.append(answer.json()["job_id"])
            time.sleep(0.5)

        # Kill the worker that is running a job, mid-run.
        db = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
        deadline = time.monotonic() + 60
        while True:
            with db.connect() as conn:
                running = conn.execute(select(jobs.c.worker_id).where(jobs.c.status == "running")).scalars().first()
            if running:
                break
            assert time.monotonic() < deadline, "no job started"
            time.sleep(0.05)
        victim = next(w for w in workers if f":{w.popen.pid}:" in running)
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait(10)

        deadline = time.monotonic() + 240
        with db.connect() as conn:
            while conn.execute(select(func.count()).where(jobs.c.status != "completed")).scalar_one():
                assert time.monotonic() < deadline, "jobs not completed in time"
                conn.rollback()
                time.sleep(0.5)
            finished_by = Counter(conn.execute(select(jobs.c.worker_id)).scalars())
            per_job = dict(conn.execute(select(outputs.c.job_id, func.count()).where(outputs.c.kind == "video")
                                        .group_by(outputs.c.job_id)).all())
        db.dispose()
        assert per_job == {job_id: 1 for job_id in job_ids}  # each job completed once, one output each

        # Every output downloads through either API (S3 behind both).
        for n, job_id in enumerate(job_ids):
            for index in (n % 2, (n + 1) % 2):
                time.sleep(1 / RATE)  # stay under the fleet key's rate limit
                content = clients[index].get(f"/v1/jobs/{job_id}/content", follow_redirects=True)
                assert content.status_code == 200 and content.content[4:8] == b"ftyp", (index, job_id)
                requests_made[(index, "/v1/jobs/{job_id}/content", "307")] += 1
    finally:
        for client in clients:
            client.close()

    # The rate limit holds across both APIs: a burst of 6 at 2/s, hammered through both at once.
    hammers = [httpx.Client(base_url=url, headers={"Authorization": f"Bearer {hammer_key}"}, timeout=30)
               for url in urls]
    started = time.monotonic()
    answers = [hammers[n % 2].get("/v1/account").status_code for n in range(40)]
    elapsed = time.monotonic() - started
    for client in hammers:
        client.close()
    # The margin (README "Limits"): burst + rate × elapsed + one batch (1 token at 2/s) per API process.
    assert BURST <= answers.count(200) <= BURST + RATE * elapsed + 2, (answers, elapsed)

    # /metrics of each API (with the token) and each surviving worker parses; counters add up.
    for index, url in enumerate(urls):
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
        found = samples(text)
        for (api_index, route, status), count in requests_made.items():
            if api_index == index:
                method = "POST" if route == "/v1/videos/generations" else "GET"
                assert total(found, "happyhorse_http_requests_total", route=route, method=method,
                             status=status) == count, (index, route)
        assert total(found, "happyhorse_http_requests_total", route="/v1/account", status="200") \
            + total(found, "happyhorse_http_requests_total", route="/v1/account", status="429") == 20
        assert total(found, "happyhorse_jobs", status="completed") == JOBS
        assert total(found, "happyhorse_queue_depth") == 0
    survivors = [(w, port) for w, port in zip(workers, worker_ports) if w is not victim]
    for worker, port in survivors:
        found = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
        worker_ids = {labels["worker_id"] for name, labels, _ in found if name == "happyhorse_worker_busy_ratio"}
        assert len(worker_ids) == 1
        (worker_id,) = worker_ids
        assert total(found, "happyhorse_jobs_finished_total", outcome="completed") == finished_by[worker_id]
        assert total(found, "happyhorse_job_phase_seconds_count", phase="generate") == finished_by[worker_id]
    assert sum(finished_by.values()) == JOBS
