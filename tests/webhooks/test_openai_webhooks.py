"""``client.webhooks`` of the real ``openai`` package against a live server: every call of the
resource, and a real job's events unwrapped (signature checked) by ``openai`` itself."""

from __future__ import annotations

import time

import openai
import pytest

# `videos.*` is marked deprecated in the openai package (the Sora API's shutdown date): not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(service):
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key=service.api_key, max_retries=0, timeout=60) as c:
        yield c


def _wait_for(check, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_every_call_of_the_webhooks_resource(client, receiver) -> None:
    hook = receiver(200)
    assert "video.started" in client.webhooks.event_types.list().data
    created = client.webhooks.create(name="mine", url=hook.url, event_types=["video.completed"])
    assert created.signing_secret.startswith("whsec_") and created.event_types == ["video.completed"]
    assert client.webhooks.retrieve(created.id).url == hook.url
    updated = client.webhooks.update(created.id, name="renamed", event_types=["video.completed", "video.failed"])
    assert (updated.name, updated.event_types) == ("renamed", ["video.completed", "video.failed"])
    assert created.id in [e.id for e in client.webhooks.list()]
    rotated = client.webhooks.rotate_secret(created.id)
    assert rotated.signing_secret != created.signing_secret
    tested = client.webhooks.test(created.id, event_type="video.completed")
    assert (tested.status_code, tested.event_type) == (200, "video.completed")
    headers, body = hook.received[-1]
    event = client.webhooks.unwrap(body, headers, secret=rotated.signing_secret)
    assert event.type == "video.completed"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(body, headers, secret=created.signing_secret)  # the old secret
    deleted = client.webhooks.delete(created.id)
    assert deleted.deleted and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        client.webhooks.retrieve(created.id)


def test_a_videos_events_arrive_signed_started_then_completed(client, receiver) -> None:
    hook = receiver(200)
    endpoint = client.webhooks.create(name="events", url=hook.url,
                                      event_types=["video.started", "video.completed"])
    video = client.videos.create_and_poll(prompt="a horse at dawn", seconds="4", size="1280x720",
                                          poll_interval_ms=200)
    assert video.status == "completed"
    _wait_for(lambda: len(hook.received) >= 2)
    events = [client.webhooks.unwrap(body, headers, secret=endpoint.signing_secret) for headers, body in hook.received]
    assert {(e.type, e.data.id) for e in events} == {("video.started", video.id), ("video.completed", video.id)}
    started, completed = sorted(events, key=lambda e: e.type != "video.started")
    assert started.created_at <= completed.created_at
    client.webhooks.delete(endpoint.id)
