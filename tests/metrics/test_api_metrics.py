"""``GET /metrics`` of a live API: behind its token, and counting exactly what a client did
(requests by route and status, one job through its phases, the queue read from the database)."""

from __future__ import annotations

import time

import httpx

from happyhorse.metrics import METRIC_NAMES
from happyhorse.metrics.names import PHASES
from happyhorse.testing import MetricSamples, read_metrics, running_service, scrape_metrics

from .conftest import TOKEN, wait_for_job, wait_until

REQUESTS = "happyhorse_http_requests_total"
QUEUE_FAMILIES = {"happyhorse_jobs", "happyhorse_queue_depth", "happyhorse_queue_oldest_age_seconds",
                  "happyhorse_workers"}
GENERATION = {"model": "happyhorse-1-1", "prompt": "a horse in the rain", "duration": 3, "resolution": "720p"}


def _scrape(base_url: str) -> MetricSamples:
    return scrape_metrics(f"{base_url}/metrics", token=TOKEN)


def test_metrics_answers_only_its_token_and_is_not_in_the_openapi_document(settings_for) -> None:
    with running_service(settings_for(), worker=False) as live:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        live.headers()):  # an API key is not the metrics token
            refused = httpx.get(f"{live.base_url}/metrics", headers=headers)
            assert refused.status_code == 401, refused.text
            error = refused.json()["error"]
            assert error["code"] == "invalid_metrics_token" and error["type"] == "authentication_error"
            assert error["request_id"] == refused.headers["x-request-id"]
        answered = httpx.get(f"{live.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answered.status_code == 200
        assert answered.headers["content-type"].startswith("text/plain; version=0.0.4")
        scraped = read_metrics(answered.text)
        # Every family of an API process, and no other name of ours.
        assert {name for name in scraped.families if name.startswith("happyhorse_")} == METRIC_NAMES
        document = httpx.get(f"{live.base_url}/openapi.json").json()
        assert "/metrics" not in document["paths"]
        # The 401s were counted like any answer, under the route's template.
        assert scraped.value(REQUESTS, route="/metrics", method="GET", status="401") == 4


def test_without_a_token_there_is_no_metrics_route(settings_for) -> None:
    with running_service(settings_for(metrics_token=None), worker=False) as live:
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            missing = httpx.get(f"{live.base_url}/metrics", headers=headers)
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "route_not_found"


def test_counters_add_up_to_what_the_client_did(settings_for, database_url) -> None:
    with running_service(settings_for(database_url)) as live, \
            httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.post("/healthz").status_code == 405
        assert client.get("/v1/models").status_code == 200
        assert client.get("/no/such/path").status_code == 404
        assert client.get("/v1/jobs/job_nosuchjob").status_code == 404
        submitted = client.post("/v1/videos/generations", json=GENERATION)
        assert submitted.status_code == 202, submitted.text
        job, polls = wait_for_job(client, submitted.json()["job_id"])
        assert job["status"] == "completed", job

        # The worker counts a job's end just after writing it: a poll may see "completed" first.
        wait_until(lambda: _scrape(live.base_url).value("happyhorse_jobs_finished_total") == 1,
                   what="the job's end to be counted")
        scraped = _scrape(live.base_url)

    def requests(**labels: str) -> float:
        return scraped.value(REQUESTS, **labels)

    assert requests(route="/healthz", method="GET", status="200") == 2
    assert requests(route="/healthz", method="POST", status="405") == 1
    assert requests(route="/v1/models", method="GET", status="200") == 1
    assert requests(route="other", status="404") == 1  # never the raw path
    assert not any("/no/such/path" in line for line in scraped.text.splitlines())
    assert requests(route="/v1/jobs/{job_id}", status="404") == 1
    assert requests(route="/v1/jobs/{job_id}", method="GET", status="200") == polls
    assert requests(route="/v1/videos/generations", method="POST", status="202") == 1
    scrapes = requests(route="/metrics", method="GET", status="200")
    assert scrapes >= 1  # the waiting ones, the last one not yet counted when it was rendered
    assert requests() == 2 + 1 + 1 + 1 + 1 + polls + 1 + scrapes
    assert scraped.value("happyhorse_http_request_duration_seconds_count", route="/v1/jobs/{job_id}") == polls + 1
    assert scraped.value("happyhorse_http_request_duration_seconds_count") == requests()
    assert scraped.label_values(REQUESTS, "route") <= {"/healthz", "/v1/models", "other", "/v1/jobs/{job_id}",
                                                       "/v1/videos/generations", "/metrics"}

    # The in-process worker's side: one completed job, each phase timed once.
    assert scraped.value("happyhorse_jobs_finished_total", engine="preview", outcome="completed") == 1
    assert scraped.value("happyhorse_jobs_finished_total") == 1
    for phase in PHASES:
        assert scraped.value("happyhorse_job_phase_seconds_count", phase=phase, engine="preview",
                             resolution="720p") == 1, phase
    assert scraped.label_values("happyhorse_job_phase_seconds_count", "phase") == set(PHASES)
    assert scraped.value("happyhorse_engine_seconds_per_output_second_count", engine="preview",
                         resolution="720p") == 1
    (worker_id,) = scraped.label_values("happyhorse_worker_busy_ratio", "worker_id")
    assert 0 < scraped.value("happyhorse_worker_busy_ratio", worker_id=worker_id) <= 1

    # The queue, read from the database.
    assert scraped.value("happyhorse_jobs", status="completed") == 1
    assert scraped.value("happyhorse_jobs") == 1
    assert scraped.value("happyhorse_queue_depth") == 0
    assert scraped.value("happyhorse_queue_oldest_age_seconds") == 0
    assert scraped.value("happyhorse_workers") == 1
    assert scraped.value("happyhorse_database_errors_total") == 0


def test_queue_gauges_with_the_worker_off(settings_for, database_url) -> None:
    with running_service(settings_for(database_url), worker=False) as live, \
            httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
        job_ids = [client.post("/v1/videos/generations", json=GENERATION).json()["job_id"] for _ in range(3)]
        first = _scrape(live.base_url)
        assert first.value("happyhorse_queue_depth") == 3
        assert first.value("happyhorse_jobs", status="queued") == 3
        assert first.value("happyhorse_jobs") == 3
        assert first.value("happyhorse_workers") == 0
        assert first.label_values("happyhorse_jobs", "status") == {"queued", "running", "completed", "failed",
                                                                     "cancelled"}
        age = first.value("happyhorse_queue_oldest_age_seconds")
        assert 0 < age < 30
        time.sleep(1.0)
        assert _scrape(live.base_url).value("happyhorse_queue_oldest_age_seconds") >= age + 0.9  # database clock

        # A cancelled job leaves the queue; once deleted, it is no longer counted at all.
        assert client.post(f"/v1/jobs/{job_ids[0]}/cancel").status_code == 200
        cancelled = _scrape(live.base_url)
        assert (cancelled.value("happyhorse_queue_depth"), cancelled.value("happyhorse_jobs", status="cancelled")) \
            == (2, 1)
        assert client.delete(f"/v1/jobs/{job_ids[0]}").status_code == 200
        deleted = _scrape(live.base_url)
        assert (deleted.value("happyhorse_queue_depth"), deleted.value("happyhorse_jobs", status="cancelled"),
                deleted.value("happyhorse_jobs")) == (2, 0, 2)
        # No worker runs here: nothing of a worker's was counted.
        assert deleted.value("happyhorse_jobs_finished_total") == 0
        assert not deleted.has("happyhorse_job_phase_seconds_count")


def test_the_metrics_port_of_the_api_needs_no_token(settings_for) -> None:
    from happyhorse.metrics import start_metrics_server

    with running_service(settings_for(), worker=False) as live:
        server = start_metrics_server(live.runtime.metrics, "127.0.0.1", 0)
        try:
            assert httpx.get(f"{live.base_url}/healthz").status_code == 200
            scraped = scrape_metrics(server.url)  # no token: a separate (private) listen address
            assert scraped.value(REQUESTS, route="/healthz", status="200") == 1
            assert scraped.value("happyhorse_queue_depth") == 0  # the same registry as /metrics
        finally:
            server.close()


def test_refused_before_routing_is_counted_under_the_route_it_aimed_at(settings_for) -> None:
    with running_service(settings_for(rate_limit_per_second=0.001, rate_limit_burst=1), worker=False) as live, \
            httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
        statuses = [client.get("/v1/jobs/job_nosuchjob").status_code for _ in range(3)]
        assert statuses == [404, 429, 429]
        scraped = _scrape(live.base_url)
    assert scraped.value(REQUESTS, route="/v1/jobs/{job_id}", status="429") == 2
    assert scraped.value(REQUESTS, route="/v1/jobs/{job_id}", status="404") == 1


def test_a_request_with_an_odd_method_is_other(settings_for) -> None:
    with running_service(settings_for(), worker=False) as live:
        assert httpx.request("PROPFIND", f"{live.base_url}/healthz").status_code == 405
        scraped = _scrape(live.base_url)
    assert scraped.value(REQUESTS, route="/healthz", method="other", status="405") == 1
    assert "PROPFIND" not in scraped.text
