"""The outbox: an event (and one delivery per subscribed endpoint) exists iff the job ended,
written in the ending transaction; a fenced-out ending writes nothing; ``video.started`` once, on
the first claim."""

from __future__ import annotations

from sqlalchemy import func, select

from happyhorse.db.schema import webhook_deliveries, webhook_events
from happyhorse.webhooks.endpoints import create_endpoint, update_endpoint

from .conftest import ACCOUNT, OTHER


def _events(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(webhook_events.c.account_id, webhook_events.c.type, webhook_events.c.job_id)).all()]


def _delivery_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar_one()


def test_each_ending_writes_one_event_per_subscribed_endpoint(engine, queue, submit) -> None:
    all_types = ["video.completed", "video.failed", "video.cancelled"]
    create_endpoint(engine, ACCOUNT, name="a", url="http://127.0.0.1:9/a", event_types=all_types)
    create_endpoint(engine, ACCOUNT, name="b", url="http://127.0.0.1:9/b", event_types=["video.completed"])
    create_endpoint(engine, OTHER, name="other", url="http://127.0.0.1:9/o", event_types=all_types)
    completed, failed, cancelled = submit(), submit(), submit()
    for job_id in (completed, failed):
        claimed = queue.claim_next("w1")
        assert claimed is not None and claimed.job.id == job_id
        if job_id == completed:
            assert queue.complete(claimed, result={}, outputs=[])
        else:
            assert queue.fail(claimed, code="boom", message="boom")
    queue.request_cancel(ACCOUNT, cancelled)
    assert sorted(_events(engine)) == sorted([
        (ACCOUNT, "video.completed", completed), (ACCOUNT, "video.failed", failed),
        (ACCOUNT, "video.cancelled", cancelled),
    ])
    assert _delivery_count(engine) == 2 + 1 + 1  # completed → a and b; failed → a; cancelled → a


def test_a_fenced_out_ending_writes_no_event(engine, queue, submit) -> None:
    create_endpoint(engine, ACCOUNT, name="a", url="http://127.0.0.1:9/a", event_types=["video.completed"])
    submit()
    stale = queue.claim_next("w1")
    assert stale is not None
    with engine.begin() as conn:  # the lease lapses; the reaper gives the job to another worker
        from happyhorse.db.schema import jobs
        from sqlalchemy import update
        conn.execute(update(jobs).values(lease_expires_at=0))
    queue.reap_expired()
    fresh = queue.claim_next("w2")
    assert fresh is not None
    assert not queue.complete(stale, result={}, outputs=[])
    assert _events(engine) == [] and _delivery_count(engine) == 0
    assert queue.complete(fresh, result={}, outputs=[])
    assert len(_events(engine)) == 1 and _delivery_count(engine) == 1


def test_no_row_for_an_account_without_a_subscribed_enabled_endpoint(engine, queue, submit) -> None:
    endpoint = create_endpoint(engine, ACCOUNT, name="a", url="http://127.0.0.1:9/a", event_types=["video.failed"])
    submit()
    claimed = queue.claim_next("w1")
    assert queue.complete(claimed, result={}, outputs=[])
    update_endpoint(engine, ACCOUNT, endpoint.id, {"enabled": False, "event_types": ["video.completed"]})
    submit()
    claimed = queue.claim_next("w1")
    assert queue.complete(claimed, result={}, outputs=[])
    assert _events(engine) == [] and _delivery_count(engine) == 0


def test_started_is_written_on_the_first_claim_only(engine, queue, submit) -> None:
    create_endpoint(engine, ACCOUNT, name="s", url="http://127.0.0.1:9/s", event_types=["video.started"])
    create_endpoint(engine, ACCOUNT, name="c", url="http://127.0.0.1:9/c", event_types=["video.completed"])
    job_id = submit()
    assert _events(engine) == []  # queued is not started
    first = queue.claim_next("w1")
    assert _events(engine) == [(ACCOUNT, "video.started", job_id)] and _delivery_count(engine) == 1
    assert queue.release(first)  # given back on shutdown, then claimed again: no second event
    again = queue.claim_next("w2")
    assert again is not None and again.job.id == job_id
    assert queue.complete(again, result={}, outputs=[])
    assert sorted(_events(engine)) == [(ACCOUNT, "video.completed", job_id), (ACCOUNT, "video.started", job_id)]
    assert _delivery_count(engine) == 2  # started → s; completed → c


def test_started_needs_a_subscribed_endpoint(engine, queue, submit) -> None:
    create_endpoint(engine, ACCOUNT, name="c", url="http://127.0.0.1:9/c", event_types=["video.completed"])
    submit()
    assert queue.claim_next("w1") is not None
    assert _events(engine) == [] and _delivery_count(engine) == 0
