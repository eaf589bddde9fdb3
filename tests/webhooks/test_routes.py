"""``/v1/webhook_endpoints`` on a live server with its in-process worker: the endpoint object, the
egress guard at registration, isolation between accounts, deliveries of a real job, redelivery."""

from __future__ import annotations

import json
import time

import httpx
import standardwebhooks

from .conftest import ENDINGS


def test_create_retrieve_update_list_rotate_delete(api, receiver) -> None:
    hook = receiver(200)
    created = api.post("/v1/webhook_endpoints", json={"name": "mine", "url": hook.url, "event_types": ENDINGS})
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["id"].startswith("we_") and endpoint["object"] == "webhook_endpoint"
    assert endpoint["signing_secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    got = api.get(f"/v1/webhook_endpoints/{endpoint['id']}").json()
    assert "signing_secret" not in got and got["url"] == hook.url
    updated = api.post(f"/v1/webhook_endpoints/{endpoint['id']}", json={"event_types": ["video.failed"]}).json()
    assert updated["event_types"] == ["video.failed"]
    assert endpoint["id"] in [e["id"] for e in api.get("/v1/webhook_endpoints").json()["data"]]
    rotated = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/rotate_secret", json={}).json()
    assert rotated["signing_secret"] != endpoint["signing_secret"]
    tested = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/test", json={"event_type": "video.completed"}).json()
    assert (tested["status_code"], tested["success"]) == (200, True)
    headers, body = hook.received[-1]
    hook.answer_from_now(500)
    failed = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/test", json={"event_type": "video.failed"}).json()
    assert (failed["status_code"], failed["success"]) == (500, False)
    assert standardwebhooks.Webhook(rotated["signing_secret"]).verify(body, headers)["type"] == "video.completed"
    deleted = api.delete(f"/v1/webhook_endpoints/{endpoint['id']}").json()
    assert deleted == {"id": endpoint["id"], "object": "webhook_endpoint.deleted", "deleted": True}
    assert api.get(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 404


def test_another_accounts_endpoint_is_not_found(service, api, receiver) -> None:
    endpoint = api.post("/v1/webhook_endpoints", json={"url": receiver(200).url, "event_types": ENDINGS}).json()
    other = service.headers(service.new_account_key("webhook-stranger"))
    for method, path in [("GET", ""), ("POST", ""), ("DELETE", ""), ("POST", "/rotate_secret"),
                         ("GET", "/deliveries")]:
        answer = api.request(method, f"/v1/webhook_endpoints/{endpoint['id']}{path}", headers=other, json={})
        assert answer.status_code == 404, (method, path, answer.text)


def test_a_private_url_is_refused_at_registration_unless_the_operator_allows(service, api) -> None:
    service.runtime.settings.allow_private_fetch = False
    try:
        for url in ("http://10.1.2.3/hook", "http://127.0.0.1:9/hook", "http://[::1]/hook", "http://2130706433/"):
            answer = api.post("/v1/webhook_endpoints", json={"url": url, "event_types": ENDINGS})
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["param"] == "url"
    finally:
        service.runtime.settings.allow_private_fetch = True
    bad = api.post("/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/", "event_types": ["video.bogus"]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "event_types"


def test_a_finished_job_is_delivered_listed_and_redelivered(api, receiver) -> None:
    hook = receiver(200)
    endpoint = api.post("/v1/webhook_endpoints", json={"url": hook.url, "event_types": ENDINGS}).json()
    job = api.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3}).json()
    deadline = time.monotonic() + 120
    while not hook.received:
        assert time.monotonic() < deadline, "no delivery"
        time.sleep(0.2)
    headers, body = hook.received[0]
    event = standardwebhooks.Webhook(endpoint["signing_secret"]).verify(body, headers)
    assert event["data"]["id"] == job["job_id"] and event["type"] == "video.completed"
    deliveries = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries").json()["data"]
    while deliveries[0]["status"] != "delivered":
        time.sleep(0.1)
        deliveries = api.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert (deliveries[0]["attempts"], deliveries[0]["last_response_code"]) == (1, 200)
    again = api.post(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries/{deliveries[0]['id']}/redeliver")
    assert again.status_code == 200 and again.json()["status"] == "pending"
    while len(hook.received) < 2:
        assert time.monotonic() < deadline, "no redelivery"
        time.sleep(0.1)
    assert hook.received[1][0]["webhook-id"] == headers["webhook-id"]


def test_an_accounts_endpoint_never_receives_another_accounts_events(service, receiver) -> None:
    hooks, jobs_of = {}, {}
    clients = {name: httpx.Client(base_url=service.base_url, timeout=30,
                                  headers=service.headers(service.new_account_key(f"isolated-{name}")))
               for name in ("a", "b")}
    try:
        for name, http in clients.items():
            hooks[name] = receiver(200)
            created = http.post("/v1/webhook_endpoints", json={"url": hooks[name].url, "event_types": ENDINGS})
            assert created.status_code == 201, created.text
        for name, http in clients.items():
            jobs_of[name] = {http.post("/v1/videos/generations", json={"prompt": f"{name} {i}", "duration": 3})
                             .json()["job_id"] for i in range(2)}
        deadline = time.monotonic() + 120
        while any(len(hooks[name].received) < 2 for name in hooks):
            assert time.monotonic() < deadline, {name: len(hook.received) for name, hook in hooks.items()}
            time.sleep(0.2)
        time.sleep(0.5)  # a stray delivery would arrive about now
        for name, hook in hooks.items():
            assert {json.loads(body)["data"]["id"] for _, body in hook.received} == jobs_of[name]
    finally:
        for http in clients.values():
            http.close()
