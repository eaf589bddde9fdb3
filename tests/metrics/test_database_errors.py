"""A database that goes away: /metrics still answers (without the queue's gauges), and every
"database unavailable" is counted by process: the API's 503s and scrapes, the worker's and the
webhook loop's errors. On SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
from sqlalchemy.exc import OperationalError

from happyhorse.engines import load_engine
from happyhorse.metrics import Metrics, render
from happyhorse.runtime import Runtime
from happyhorse.testing import read_metrics, running_service, scrape_metrics
from happyhorse.worker import Worker, WorkerThread

from .conftest import TOKEN, wait_until

ERRORS = "happyhorse_database_errors_total"


def test_the_api_counts_503s_and_a_scrape_survives_the_database_going_away(settings_for, database_url,
                                                                             take_database_away) -> None:
    with running_service(settings_for(database_url), worker=False) as live, \
            httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
        url = f"{live.base_url}/metrics"
        assert scrape_metrics(url, token=TOKEN).value("happyhorse_queue_depth") == 0
        take_database_away(live.runtime, database_url)

        for _ in range(2):
            away = client.get("/v1/jobs/job_0000000000000000000000000")
            assert away.status_code == 503, away.text
            assert away.json()["error"]["code"] == "database_unavailable"
        first = scrape_metrics(url, token=TOKEN)  # answers: no exception reaches the scraper
        second = scrape_metrics(url, token=TOKEN)

    for scraped in (first, second):
        assert not {"happyhorse_queue_depth", "happyhorse_jobs", "happyhorse_workers",
                    "happyhorse_queue_oldest_age_seconds"} & scraped.families
        assert scraped.value("happyhorse_http_requests_total", route="/v1/jobs/{job_id}", status="503") == 2
    # The counter is rendered before the queue's read fails: each scrape shows the ones before it.
    assert first.value(ERRORS, process="api") == 2
    assert second.value(ERRORS, process="api") == 3
    assert second.value(ERRORS) == 3


def test_the_worker_and_webhook_loops_count_theirs(settings_for, database_url, take_database_away) -> None:
    settings = settings_for(database_url)
    runtime = Runtime.open(settings)
    try:
        take_database_away(runtime, database_url)
        thread = WorkerThread(Worker(runtime, load_engine("preview", {})), grace_seconds=1)
        thread.start()
        try:
            wait_until(lambda: read_metrics(render(runtime.metrics).decode()).value(ERRORS, process="worker") >= 1
                       and read_metrics(render(runtime.metrics).decode()).value(ERRORS, process="webhooks") >= 1,
                       timeout=30, what="both loops to count an error")
        finally:
            thread.stop_and_join()
        assert read_metrics(render(runtime.metrics).decode()).value(ERRORS, process="api") == 0
    finally:
        runtime.close()


def test_only_outages_count() -> None:
    metrics = Metrics()
    outage = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert metrics.count_database_error("worker", outage)
    assert not metrics.count_database_error("worker", ValueError("a bug, not an outage"))
    assert not metrics.count_database_error("worker", OSError(28, "No space left on device"))
    assert read_metrics(render(metrics).decode()).value(ERRORS, process="worker") == 1
