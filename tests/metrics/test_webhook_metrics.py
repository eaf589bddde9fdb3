"""``happyhorse_webhook_deliveries_total{outcome}``: each recorded attempt counted by its outcome,
against loopback receivers, on SQLite and PostgreSQL; and through a live worker."""

from __future__ import annotations

import dataclasses

import httpx
from sqlalchemy import update

from happyhorse.db.schema import webhook_deliveries
from happyhorse.ids import new_id
from happyhorse.jobs.queue import JobQueue
from happyhorse.metrics import Metrics, render
from happyhorse.testing import read_metrics, running_service, sample_request, scrape_metrics
from happyhorse.webhooks.delivery import Deliverer, RetryPolicy
from happyhorse.webhooks.endpoints import create_endpoint
from happyhorse.webhooks.outbox import ending_hooks, record_started_event, record_webhook_event

from .conftest import ACCOUNT, TOKEN, wait_for_job, wait_until

DELIVERIES = "happyhorse_webhook_deliveries_total"


@dataclasses.dataclass(frozen=True)
class NoRetryYet(RetryPolicy):
    """A failed delivery is due again only when the test says so (no jitter to race with)."""

    def delay(self, attempts: int) -> float:
        return 3600.0


POLICY = NoRetryYet(timeout_seconds=2.0, lease_seconds=10.0)


def test_each_outcome_is_counted(db_engine, receiver) -> None:
    queue = JobQueue(db_engine, on_end=ending_hooks(record_webhook_event), on_start=record_started_event)
    for name, hook in (("flaky", receiver(500, 200)), ("gone", receiver(410)), ("down", receiver(500))):
        create_endpoint(db_engine, ACCOUNT, name=name, url=hook.url, event_types=["video.completed"])
    with db_engine.begin() as conn:
        queue.insert_job(conn, job_id=new_id("job"), account_id=ACCOUNT, model="happyhorse-1-1",
                         request=sample_request())
    claimed = queue.claim_next("w1")
    assert claimed is not None and queue.complete(claimed, result={}, outputs=[])
    metrics = Metrics()

    first = Deliverer(db_engine, allow_private=True, policy=POLICY, metrics=metrics)
    assert first.deliver_due() == 3  # flaky: 500, gone: 410, down: 500
    after_first = read_metrics(render(metrics).decode())
    assert {o: after_first.value(DELIVERIES, outcome=o) for o in ("delivered", "retried", "failed", "disabled")} \
        == {"delivered": 0, "retried": 2, "failed": 0, "disabled": 1}

    with db_engine.begin() as conn:  # both retries due now; and from now on a failure gives up
        conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.status == "pending")
                     .values(next_attempt_at=0))
    last = Deliverer(db_engine, allow_private=True, policy=dataclasses.replace(POLICY, give_up_after_seconds=0),
                     metrics=metrics)
    assert last.deliver_due() == 2  # flaky: 200, down: 500 again
    scraped = read_metrics(render(metrics).decode())
    assert {o: scraped.value(DELIVERIES, outcome=o) for o in ("delivered", "retried", "failed", "disabled")} \
        == {"delivered": 1, "retried": 2, "failed": 1, "disabled": 1}
    assert scraped.value("happyhorse_database_errors_total") == 0


def test_the_workers_delivery_loop_counts_into_the_process_metrics(settings_for, receiver) -> None:
    hook = receiver(200)
    with running_service(settings_for(allow_private_fetch=True)) as live, \
            httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
        created = client.post("/v1/webhook_endpoints", json={"url": hook.url, "event_types": ["video.completed"]})
        assert created.status_code == 201, created.text
        submitted = client.post("/v1/videos/generations", json={"model": "happyhorse-1-1", "prompt": "a horse",
                                                                "duration": 3, "resolution": "720p"})
        assert wait_for_job(client, submitted.json()["job_id"])[0]["status"] == "completed"
        wait_until(lambda: len(hook.delivered_ids()) == 1, what="the delivery")
        url = f"{live.base_url}/metrics"
        wait_until(lambda: scrape_metrics(url, token=TOKEN).value(DELIVERIES, outcome="delivered") == 1,
                   what="the delivery to be counted")
        assert scrape_metrics(url, token=TOKEN).value(DELIVERIES) == 1
