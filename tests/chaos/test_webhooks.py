"""Webhooks under real worker processes: a receiver down for longer than a worker's life, and a
receiver that hangs while jobs keep flowing. Workers are ``stub_worker.py`` processes whose own
delivery loop sends the events (retry step 0.2 s instead of 5 s)."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import func, select

from happyhorse.db.schema import webhook_deliveries, webhook_events
from happyhorse.webhooks.endpoints import create_endpoint

from .conftest import Chaos

ENDINGS = ["video.completed", "video.failed", "video.cancelled"]



def event_ids(chaos: Chaos) -> list[str]:
    with chaos.runtime.db.connect() as conn:
        return list(conn.execute(select(webhook_events.c.id)).scalars())


def least_attempts(chaos: Chaos) -> int:
    with chaos.runtime.db.connect() as conn:
        return conn.execute(select(func.min(webhook_deliveries.c.attempts))).scalar() or 0


def test_receiver_down_past_a_worker_process_life_is_delivered_once_after(chaos: Chaos, receiver) -> None:
    hook = receiver(503)
    create_endpoint(chaos.runtime.db, chaos.account_id, name="down", url=hook.url, event_types=ENDINGS)
    for index in range(5):
        chaos.submit(f"horse {index}")
    first = chaos.pool.start("w", job_seconds=0.1)
    chaos.wait_all_ended(5, timeout=60)
    chaos.wait_until(lambda: len(event_ids(chaos)) == 5 and least_attempts(chaos) >= 2, 30,
                     "every delivery failing twice")
    chaos.pool.kill(first)  # SIGKILL while every delivery is still pending
    assert chaos.delivery_states() == Counter(pending=5)
    hook.answer_from_now(200)
    chaos.pool.start("w", job_seconds=0.1)
    chaos.wait_until(lambda: chaos.delivery_states() == Counter(delivered=5), 60, "every delivery after the restart")
    assert sorted(hook.delivered_ids()) == sorted(event_ids(chaos))  # exactly one success per event
    for headers, body in hook.received:  # the same webhook-id on every attempt: the event's own
        assert headers["webhook-id"] == json.loads(body)["id"]


def test_a_hanging_receiver_never_holds_up_jobs_and_200_events_arrive_once(chaos: Chaos, receiver) -> None:
    jobs = 100
    hook = receiver(200, hold=True, delay=0.02)  # hangs until the gate opens, then slow
    create_endpoint(chaos.runtime.db, chaos.account_id, name="slow", url=hook.url,
                    event_types=["video.started", "video.completed"])
    for index in range(jobs):
        chaos.submit(f"horse {index}")
    for name in ("w0", "w1"):
        chaos.pool.start(name, job_seconds=0.02, options=["--webhook-timeout", "60"])
    chaos.wait_all_ended(jobs, timeout=120)
    assert chaos.statuses() == {"completed": jobs}
    # Every job ended while the receiver held each delivery it was sent: none got through,
    # and the loops stayed within their 4 sending slots each.
    states = chaos.delivery_states()
    assert sum(states.values()) == 2 * jobs and states["delivered"] == 0
    assert len(hook.received) <= 2 * 4
    hook.gate.set()
    chaos.wait_until(lambda: chaos.delivery_states() == Counter(delivered=2 * jobs), 90, "200 deliveries")
    ids = hook.delivered_ids()
    assert len(ids) == 2 * jobs and sorted(ids) == sorted(event_ids(chaos))
