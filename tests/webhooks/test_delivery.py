"""The delivery loop against loopback receivers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import standardwebhooks
from sqlalchemy import select

from happyhorse.db.schema import webhook_deliveries, webhook_endpoints
from happyhorse.webhooks.delivery import Deliverer, RetryPolicy
from happyhorse.webhooks.endpoints import create_endpoint
from happyhorse.webhooks.signing import signed_headers

from .conftest import ACCOUNT, ENDINGS

FAST = RetryPolicy(base_seconds=0.05, max_delay_seconds=0.1, timeout_seconds=2.0, lease_seconds=10.0)


def _complete_one(queue, submit) -> str:
    job_id = submit()
    claimed = queue.claim_next("w1")
    assert claimed is not None and queue.complete(claimed, result={}, outputs=[])
    return job_id


def _deliveries(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(webhook_deliveries)).mappings().all()]


def _until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _deliver(engine, **options) -> Deliverer:
    return Deliverer(engine, allow_private=True, policy=options.pop("policy", FAST), **options)


def test_known_answer_of_the_standard() -> None:
    headers = signed_headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                             b'{"test": 2432232314}')
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_delivered_after_two_failures_with_the_same_id_and_a_valid_signature(engine, queue, submit, receiver) -> None:
    hook = receiver(500, 503, 200)
    endpoint = create_endpoint(engine, ACCOUNT, name="r", url=hook.url, event_types=ENDINGS)
    job_id = _complete_one(queue, submit)
    deliverer = _deliver(engine)
    deliverer.start()
    try:
        _until(lambda: _deliveries(engine)[0]["status"] == "delivered")
    finally:
        deliverer.stop()
    assert len(hook.received) == 3
    ids = {headers["webhook-id"] for headers, _ in hook.received}
    assert len(ids) == 1 and ids.pop().startswith("evt_")
    headers, body = hook.received[-1]
    event = standardwebhooks.Webhook(endpoint.secret).verify(body, headers)
    assert event["type"] == "video.completed" and event["data"] == {"id": job_id} and event["object"] == "event"
    import openai

    client = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9")
    client.webhooks.verify_signature(body, headers, secret=endpoint.secret)
    row = _deliveries(engine)[0]
    assert (row["attempts"], row["last_response_code"], row["next_attempt_at"]) == (3, 200, None)


def test_410_disables_the_endpoint_and_its_pending_deliveries(engine, queue, submit, receiver) -> None:
    hook = receiver(410)
    create_endpoint(engine, ACCOUNT, name="r", url=hook.url, event_types=ENDINGS)
    _complete_one(queue, submit)
    _complete_one(queue, submit)
    deliverer = _deliver(engine)
    assert deliverer.deliver_due() == 1  # the first answers 410; the second is then disabled unsent
    assert len(hook.received) == 1
    assert {d["status"] for d in _deliveries(engine)} == {"disabled"}
    with engine.connect() as conn:
        status, reason = conn.execute(select(webhook_endpoints.c.status, webhook_endpoints.c.disabled_reason)).one()
    assert status == "disabled" and "410" in reason


def test_a_redirect_is_not_followed_and_counts_as_a_failure(engine, queue, submit, receiver) -> None:
    canary = receiver(200)
    hook = receiver(302, headers={"location": canary.url})
    create_endpoint(engine, ACCOUNT, name="r", url=hook.url, event_types=ENDINGS)
    _complete_one(queue, submit)
    _deliver(engine, policy=RetryPolicy(base_seconds=60)).deliver_due()
    row = _deliveries(engine)[0]
    assert (row["status"], row["attempts"], row["last_response_code"]) == ("pending", 1, 302)
    assert "redirect" in row["last_error"] and canary.received == []


def test_a_timeout_counts_as_a_failure(engine, queue, submit, receiver) -> None:
    hook = receiver(200, delay=3.0)
    create_endpoint(engine, ACCOUNT, name="r", url=hook.url, event_types=ENDINGS)
    _complete_one(queue, submit)
    started = time.monotonic()
    _deliver(engine, policy=RetryPolicy(base_seconds=60, timeout_seconds=0.5)).deliver_due()
    assert time.monotonic() - started < 2.5
    row = _deliveries(engine)[0]
    assert (row["status"], row["attempts"], row["last_response_code"]) == ("pending", 1, None)
    assert "timed out" in row["last_error"]


def test_given_up_after_the_retry_window(engine, queue, submit, receiver) -> None:
    hook = receiver(500)
    create_endpoint(engine, ACCOUNT, name="r", url=hook.url, event_types=ENDINGS)
    _complete_one(queue, submit)
    _deliver(engine, policy=RetryPolicy(base_seconds=60, give_up_after_seconds=0)).deliver_due()
    row = _deliveries(engine)[0]
    assert (row["status"], row["next_attempt_at"]) == ("failed", None)


def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(engine, queue, submit, receiver) -> None:
    canary = receiver(200)
    port = canary.url.split(":")[2].split("/")[0]
    create_endpoint(engine, ACCOUNT, name="r", url=f"http://hooks.example.com:{port}/hook", event_types=ENDINGS)
    _complete_one(queue, submit)
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    Deliverer(engine, allow_private=False, policy=RetryPolicy(base_seconds=60), resolver=rebinding).deliver_due()
    row = _deliveries(engine)[0]
    assert (row["status"], row["attempts"]) == ("pending", 1) and "egress guard" in row["last_error"]
    assert asked == ["hooks.example.com"] and canary.received == []


def test_receiver_down_past_a_loops_life_is_delivered_once_after(engine, queue, submit, receiver) -> None:
    hook = receiver(503, 503, 503, 200)
    create_endpoint(engine, ACCOUNT, name="r", url=hook.url, event_types=ENDINGS)
    _complete_one(queue, submit)
    first = _deliver(engine)
    first.start()
    _until(lambda: len(hook.received) >= 2)
    first.stop()  # the worker's loop ends while the receiver is still failing
    assert _deliveries(engine)[0]["status"] == "pending"
    second = _deliver(engine)
    second.start()
    try:
        _until(lambda: _deliveries(engine)[0]["status"] == "delivered")
    finally:
        second.stop()
    assert sum(1 for _ in hook.received) == 4
    assert len({h["webhook-id"] for h, _ in hook.received}) == 1


def test_two_loops_never_deliver_one_event_at_once(engine, queue, submit, receiver) -> None:
    hook = receiver(200, delay=0.05)
    create_endpoint(engine, ACCOUNT, name="r", url=hook.url, event_types=ENDINGS)
    for _ in range(20):
        _complete_one(queue, submit)
    loops = [_deliver(engine) for _ in range(2)]
    for loop in loops:
        loop.start()
    try:
        _until(lambda: all(d["status"] == "delivered" for d in _deliveries(engine)), timeout=30)
    finally:
        for loop in loops:
            loop.stop()
    ids = [json.loads(body)["id"] for _, body in hook.received]
    assert len(ids) == 20 and len(set(ids)) == 20  # each event delivered exactly once
