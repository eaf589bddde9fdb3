"""The Webhooks page (``/dashboard/webhooks``) in a real headless Chromium, against a live service
whose egress guard lets webhooks reach loopback receivers (``allow_private_fetch``).

The page drives the public ``/v1/webhook_endpoints`` API with the session cookie: an endpoint
added through the page (its secret shown once, and it signs what the receiver gets), a test
event that reaches the receiver, disable/enable, secret rotation, a refused URL's error beside
its field, delete; the deliveries of a real job's event, and Redeliver sending the same event
(same ``webhook-id``) again.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import expect
from standardwebhooks import Webhook

from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service
from happyhorse.webhooks.endpoints import EVENT_TYPES

from .conftest import grant, screenshot

PAGE = "/dashboard/webhooks"


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[LiveService]:
    """This module's own service (it overrides conftest's for these tests): webhook URLs on 127.0.0.1
    pass the egress guard only with ``allow_private_fetch``, which the deliverer reads at start."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-web-webhooks"), signing_secret="web-test-secret",
                        signup_limit_per_hour=0, allow_private_fetch=True)
    with running_service(settings) as live:
        yield live


@dataclass
class Receiver:
    """A loopback HTTP server that answers 200 to every POST and records (headers, body)."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float = 90) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.requests()) < count:
            assert time.monotonic() < deadline, f"the receiver got {len(self.requests())} requests, not {count}"
            time.sleep(0.1)
        return self.requests()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def open_page(context, service, web_client, email: str):  # type: ignore[no-untyped-def]
    """A signed-in Webhooks page, loaded, with every confirm() accepted."""
    web_client.sign_up(email)
    context.add_cookies([{"name": "hh_session", "value": web_client.cookies["hh_session"], "url": service.base_url}])
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(PAGE)
    page.wait_for_selector("body[data-ready=true]")
    return page


def add_endpoint(page, name: str, url: str, events: tuple[str, ...] = ("video.completed",)) -> str:  # type: ignore[no-untyped-def]
    """Fill and send the form; the signing secret the page shows."""
    page.locator("#endpoint-name").fill(name)
    page.locator("#endpoint-url").fill(url)
    for box in page.locator("#event-types input").all():
        box.set_checked(box.get_attribute("value") in events)
    page.get_by_role("button", name="Add endpoint").click()
    page.locator("#new-secret").wait_for(state="visible")
    return page.locator("#new-secret-value").input_value()


def verified(secret: str, request: tuple[dict[str, str], bytes]) -> dict:
    headers, body = request
    return Webhook(secret).verify(body, headers)  # type: ignore[no-any-return]


def test_the_webhooks_page_is_a_dashboard_page(web_client) -> None:  # type: ignore[no-untyped-def]
    response = web_client.get(PAGE)
    assert response.status_code == 303 and response.headers["location"] == f"/signin?next={PAGE}"
    web_client.sign_up("hookpage@example.com")
    response = web_client.get(PAGE)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert "<h1>Webhooks</h1>" in response.text and "/static/web/webhooks.js" in response.text
    assert '<a href="/dashboard/webhooks" aria-current=page>Webhooks</a>' in response.text
    assert '<a href="/dashboard/webhooks">Webhooks</a>' in web_client.get("/dashboard/keys").text  # in every nav


@pytest.mark.slow
def test_webhook_endpoints_from_the_page(context, service, web_client, receiver) -> None:  # type: ignore[no-untyped-def]
    page = open_page(context, service, web_client, "hooks@example.com")
    # The event types offered are the API's own (its OpenAPI enum): video.started is opt-in.
    boxes = page.locator("#event-types input")
    assert [box.get_attribute("value") for box in boxes.all()] == list(EVENT_TYPES)
    assert {box.get_attribute("value"): box.is_checked() for box in boxes.all()} == {
        event: event != "video.started" for event in EVENT_TYPES}
    expect(page.locator("#endpoints-table tbody")).to_contain_text("No endpoints yet")

    # A URL the API refuses: its error beside the URL field, naming it; nothing is created.
    page.locator("#endpoint-name").fill("bad")
    page.locator("#endpoint-url").fill("ftp://x")
    page.get_by_role("button", name="Add endpoint").click()
    error = page.locator("#err-url")
    expect(error).to_be_visible()
    assert "URL" in error.inner_text() and "http" in error.inner_text()
    assert page.locator("#endpoint-url").get_attribute("aria-invalid") == "true"
    assert page.locator("#err-name").is_hidden() and page.locator("#form-error").is_hidden()
    assert page.locator("#new-secret").is_hidden()
    # No event type chosen: the error moves to the events.
    page.locator("#endpoint-url").fill(receiver.url)
    for box in boxes.all():
        box.uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#err-event_types")).to_be_visible()
    assert "event_types" in page.locator("#err-event_types").inner_text()
    assert page.locator("#err-url").is_hidden() and page.locator("#endpoint-url").get_attribute("aria-invalid") is None
    assert web_client.get("/v1/webhook_endpoints").json()["data"] == []

    # Added: the secret is shown once, with a copy button, and the row lists it.
    secret = add_endpoint(page, "receiver", receiver.url, ("video.completed", "video.failed"))
    assert secret.startswith("whsec_") and page.locator("#err-event_types").is_hidden()
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    row = page.locator("#endpoints-table tr[data-endpoint-id]")
    expect(row).to_have_count(1)
    expect(row.locator("td.status")).to_have_text("enabled")
    assert row.locator("code.url").inner_text() == receiver.url
    assert row.locator("td.events").inner_text() == "video.completed, video.failed"
    assert row.locator("td").first.inner_text() == "receiver"
    [listed] = web_client.get("/v1/webhook_endpoints").json()["data"]
    assert listed["id"] == row.get_attribute("data-endpoint-id") and "signing_secret" not in listed
    screenshot(page, "webhooks")

    # Send test: the receiver gets a signed event (signed with the secret shown), the page says so.
    row.get_by_role("button", name="Send a test event to receiver").click()
    expect(page.locator("#endpoints-status")).to_have_text(
        "Test video.completed event to receiver: HTTP 200, received.")
    [first] = receiver.wait_for(1)
    assert verified(secret, first)["type"] == "video.completed"

    # Rotate: a new secret, shown once; the next test is signed with it.
    row.get_by_role("button", name="Rotate the signing secret of receiver").click()
    expect(page.locator("#endpoints-status")).to_have_text("New signing secret for receiver.")
    rotated = page.locator("#new-secret-value").input_value()
    assert rotated.startswith("whsec_") and rotated != secret
    row.get_by_role("button", name="Send a test event to receiver").click()
    expect(page.locator("#endpoints-status")).to_contain_text("HTTP 200, received.")
    second = receiver.wait_for(2)[1]
    verified(rotated, second)

    # The secret is not on the page once it is loaded again.
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#new-secret").is_hidden()
    assert rotated not in page.content() and secret not in page.content()

    # Disable: the status says so, with the reason; enable again.
    row.get_by_role("button", name="Disable receiver").click()
    expect(row.locator("td.status .badge")).to_have_text("disabled")
    expect(row.locator("td.status .reason")).to_have_text("disabled by its owner")
    assert web_client.get("/v1/webhook_endpoints").json()["data"][0]["status"] == "disabled"
    screenshot(page, "webhooks-disabled")
    row.get_by_role("button", name="Enable receiver").click()
    expect(row.locator("td.status")).to_have_text("enabled")

    # Delete (after a confirm): gone from the page and from the API.
    row.get_by_role("button", name="Delete receiver").click()
    expect(row).to_have_count(0)
    expect(page.locator("#endpoints-table tbody")).to_contain_text("No endpoints yet")
    assert web_client.get("/v1/webhook_endpoints").json()["data"] == []


@pytest.mark.slow
def test_deliveries_and_redeliver_from_the_page(context, service, web_client, receiver) -> None:  # type: ignore[no-untyped-def]
    email = "deliveries@example.com"
    page = open_page(context, service, web_client, email)
    grant(service, email, "5")
    secret = add_endpoint(page, "jobs", receiver.url)
    row = page.locator("#endpoints-table tr[data-endpoint-id]")
    row.get_by_role("button", name="Deliveries of jobs").click()
    expect(page.locator("#deliveries-table tbody")).to_contain_text("No deliveries yet")

    # A real job of the account: its video.completed event reaches the receiver.
    job = web_client.post("/v1/videos/generations", headers=web_client.with_csrf(),
                          json={"prompt": "a horse waits for its webhook", "duration": 3, "resolution": "720p"})
    assert job.status_code in (200, 201, 202), job.text
    job_id = job.json()["job_id"]
    [first] = receiver.wait_for(1)
    event = verified(secret, first)
    assert (event["type"], event["data"]["id"]) == ("video.completed", job_id)

    page.get_by_role("button", name="Refresh").click()
    delivery = page.locator("#deliveries-table tr[data-delivery-id]")
    expect(delivery).to_have_count(1)
    expect(delivery.locator("td.status")).to_have_text("delivered")
    assert delivery.get_attribute("data-event-id") == first[0]["webhook-id"]
    assert delivery.locator("td").first.inner_text() == "video.completed"
    assert job_id in delivery.inner_text()
    assert delivery.locator("td.attempts").inner_text() == "1"
    assert delivery.locator("td.response").inner_text() == "HTTP 200"

    # Redeliver: the same event (same webhook-id) once more; the page follows it to delivered.
    delivery.get_by_role("button", name="Redeliver").click()
    expect(page.locator("#deliveries-status")).to_have_text(f"video.completed event {event['id']} queued again.")
    second = receiver.wait_for(2)[1]
    assert second[0]["webhook-id"] == first[0]["webhook-id"]
    assert verified(secret, second)["id"] == event["id"]
    expect(delivery.locator("td.attempts")).to_have_text("2")
    expect(delivery.locator("td.status")).to_have_text("delivered")
    screenshot(page, "webhooks-deliveries")

    # Disabled, its deliveries cannot be redelivered: the API's 409 is said on the page.
    row.get_by_role("button", name="Disable jobs").click()
    expect(row.locator("td.status .badge")).to_have_text("disabled")
    delivery.get_by_role("button", name="Redeliver").click()
    expect(page.locator("#deliveries-status")).to_contain_text("enable it first")
    time.sleep(0.5)
    assert len(receiver.requests()) == 2


@pytest.mark.slow
def test_the_webhooks_page_works_under_its_policy(browser, service, web_client, receiver) -> None:  # type: ignore[no-untyped-def]
    """Without the shared context's bypass_csp: no inline script or style the policy refuses."""
    ctx = browser.new_context(base_url=service.base_url)
    ctx.set_default_timeout(20_000)
    try:
        web_client.sign_up("hooks-csp@example.com")
        ctx.add_cookies([{"name": "hh_session", "value": web_client.cookies["hh_session"], "url": service.base_url}])
        page = ctx.new_page()
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text))
        page.goto(PAGE)
        page.locator("body[data-ready=true]").wait_for()
        add_endpoint(page, "strict", receiver.url)
        page.locator("#endpoints-table tr[data-endpoint-id]").get_by_role("button", name="Deliveries of strict").click()
        expect(page.locator("#deliveries")).to_be_visible()
        assert not [m for m in messages if "Content Security Policy" in m or "Refused to" in m], messages
    finally:
        ctx.close()

