"""A real ``happyhorse worker`` process with ``--metrics-port``: its own exposition (no token)
counts the job it ran, phase by phase; the API's /metrics sees it registered. SQLite and PostgreSQL."""

from __future__ import annotations

import signal

import httpx

from happyhorse.metrics import METRIC_NAMES
from happyhorse.metrics.names import PHASES
from happyhorse.testing import free_port, running_service, scrape_metrics

from .conftest import TOKEN, wait_for_job, wait_until

QUEUE_FAMILIES = {"happyhorse_jobs", "happyhorse_queue_depth", "happyhorse_queue_oldest_age_seconds",
                  "happyhorse_workers"}


def test_a_worker_process_serves_its_metrics_on_its_own_port(settings_for, database_url, spawner) -> None:
    settings = settings_for(database_url)
    port = free_port()
    worker_metrics = f"http://127.0.0.1:{port}/metrics"
    with running_service(settings, worker=False) as live, \
            httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
        worker = spawner.start("worker", "worker", "--data-dir", str(settings.data_dir), "--database-url",
                               settings.resolved_database_url, "--metrics-port", str(port))

        def ready() -> bool:
            assert worker.popen.poll() is None, worker.output()
            return " ready (engine preview" in worker.output()

        wait_until(ready, what="the worker to start")
        assert f"happyhorse: metrics on {worker_metrics}" in worker.output()
        idle = scrape_metrics(worker_metrics)
        (worker_id,) = idle.label_values("happyhorse_worker_busy_ratio", "worker_id")
        assert idle.value("happyhorse_worker_busy_ratio") == 0

        submitted = client.post("/v1/videos/generations", json={"model": "happyhorse-1-1", "prompt": "a horse",
                                                                "duration": 3, "resolution": "720p"})
        assert submitted.status_code == 202, submitted.text
        assert wait_for_job(client, submitted.json()["job_id"])[0]["status"] == "completed"
        wait_until(lambda: scrape_metrics(worker_metrics).value("happyhorse_jobs_finished_total") == 1,
                   what="the worker to count the job")
        scraped = scrape_metrics(worker_metrics)
        api = scrape_metrics(f"{live.base_url}/metrics", token=TOKEN)

        worker.popen.send_signal(signal.SIGTERM)
        assert worker.popen.wait(30) == 0, worker.output()

    assert scraped.value("happyhorse_jobs_finished_total", engine="preview", outcome="completed") == 1
    for phase in PHASES:
        assert scraped.value("happyhorse_job_phase_seconds_count", phase=phase, engine="preview",
                             resolution="720p") == 1, phase
    # The job was submitted before the worker claimed it: its wait was measured, by the database clock.
    assert scraped.value("happyhorse_job_phase_seconds_sum", phase="waiting") > 0
    assert scraped.value("happyhorse_engine_seconds_per_output_second_count", resolution="720p") == 1
    assert 0 < scraped.value("happyhorse_worker_busy_ratio", worker_id=worker_id) <= 1
    assert scraped.value("happyhorse_database_errors_total") == 0
    # A worker has no HTTP API and leaves the queue's gauges to the API (one read per scrape, not N).
    assert not scraped.has("happyhorse_http_requests_total")
    assert not QUEUE_FAMILIES & scraped.families
    assert {name for name in scraped.families if name.startswith("happyhorse_")} == METRIC_NAMES - QUEUE_FAMILIES

    # The API process counted none of the worker's work, and read it registered from the database.
    assert api.value("happyhorse_workers") == 1
    assert api.value("happyhorse_jobs", status="completed") == 1
    assert api.value("happyhorse_jobs_finished_total") == 0
    assert not api.has("happyhorse_worker_busy_ratio")
