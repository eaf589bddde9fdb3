"""Multiprocess mode: processes that share ``PROMETHEUS_MULTIPROC_DIR`` are served summed by one
exposition (a ``happyhorse api``'s /metrics), with the serving process's own scrape-time gauges."""

from __future__ import annotations

import signal

import httpx

from happyhorse.testing import free_port, scrape_metrics, wait_for_health

from .conftest import TOKEN, wait_for_job, wait_until

# A process that counts like a worker would, then exits (its counts stay in its file).
COUNTS = """
import sys
from happyhorse.metrics import Metrics
metrics = Metrics()
assert metrics.multiprocess_dir, "not in multiprocess mode"
metrics.jobs_finished.labels("preview", "completed").inc(int(sys.argv[1]))
metrics.webhook_delivery("delivered")
metrics.job_phase.labels("generate", "preview", "720p").observe(2.0)
"""


def test_one_exposition_adds_up_every_process_of_the_directory(tmp_path, spawner) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    spawner.run_python("counter-a", COUNTS, "2", env=env)
    spawner.run_python("counter-b", COUNTS, "3", env=env)

    data_dir, database = tmp_path / "data", f"sqlite:///{tmp_path / 'hh.db'}"
    common = ["--data-dir", str(data_dir), "--database-url", database]
    key = _account_key(data_dir, database)  # in this process: not in multiprocess mode, it writes no file
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api = spawner.start("api", "api", "--port", str(port), *common,
                        env={**env, "HAPPYHORSE_METRICS_TOKEN": TOKEN})
    worker = spawner.start("worker", "worker", *common, env=env)
    assert wait_for_health(base_url, alive=lambda: api.popen.poll() is None), api.output()
    wait_until(lambda: " ready (engine preview" in worker.output(), what="the worker to start")

    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        submitted = client.post("/v1/videos/generations", json={"model": "happyhorse-1-1", "prompt": "a horse",
                                                                "duration": 3, "resolution": "720p"})
        assert submitted.status_code == 202, submitted.text
        assert wait_for_job(client, submitted.json()["job_id"])[0]["status"] == "completed"
    wait_until(lambda: scrape_metrics(f"{base_url}/metrics", token=TOKEN)
               .value("happyhorse_jobs_finished_total") == 6, what="the worker's count in the sum")
    scraped = scrape_metrics(f"{base_url}/metrics", token=TOKEN)

    # 2 + 3 from the two counting processes, 1 from the real worker: summed by the API's exposition.
    assert scraped.value("happyhorse_jobs_finished_total", engine="preview", outcome="completed") == 6
    assert scraped.value("happyhorse_webhook_deliveries_total", outcome="delivered") == 2
    assert scraped.value("happyhorse_job_phase_seconds_count", phase="generate") == 3
    assert scraped.value("happyhorse_job_phase_seconds_count", phase="encode") == 1
    # The API's own counts go through its file too, and its queue gauges are its own read.
    assert scraped.value("happyhorse_http_requests_total", route="/v1/videos/generations", status="202") == 1
    assert scraped.value("happyhorse_jobs", status="completed") == 1
    assert scraped.value("happyhorse_workers") == 1
    assert len(list(shared.glob("counter_*.db"))) >= 4  # one file per process that counted

    for proc in (api, worker):
        proc.popen.send_signal(signal.SIGTERM)
    assert api.popen.wait(30) == 0, api.output()
    assert worker.popen.wait(30) == 0, worker.output()


def _account_key(data_dir, database: str) -> str:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from happyhorse.accounts import create_account, create_key
    from happyhorse.billing.ledger import grant_credits
    from happyhorse.runtime import Runtime
    from happyhorse.settings import Settings

    runtime = Runtime.open(Settings(data_dir=data_dir, database_url=database))
    try:
        account = create_account(runtime.db, "metrics")
        grant_credits(runtime.db, account.id, Decimal("10"), memo="test credit")
        return create_key(runtime.db, account.id).key
    finally:
        runtime.close()
