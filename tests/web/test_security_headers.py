"""Security headers on the dashboard and /docs served locally (issue 10, finding 11).

Every answer carries a Content-Security-Policy with ``frame-ancestors 'none'``,
``X-Content-Type-Options: nosniff`` and a ``Referrer-Policy``; ``/docs`` has
its own policy and loads Swagger UI from this server, never a CDN. In a real
Chromium, the dashboard and /docs work under their policies (no violation).
"""

from __future__ import annotations

import re

import httpx
import pytest

from happyhorse.testing import LiveService

from .conftest import PASSWORD


@pytest.mark.parametrize("path", ["/signin", "/signup", "/v1/models", "/healthz", "/static/web/common.js"])
def test_every_answer_has_the_security_headers(service: LiveService, path: str) -> None:
    answer = httpx.get(service.base_url + path, headers=service.headers(), timeout=10)
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"


def test_docs_loads_swagger_ui_from_this_server(service: LiveService) -> None:
    page = httpx.get(f"{service.base_url}/docs", timeout=10)
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/") for source in sources), sources  # nothing from another host
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    for source in sources:
        asset = httpx.get(service.base_url + source, timeout=10)
        assert asset.status_code == 200 and len(asset.content) > 0, source
    bundle = httpx.get(f"{service.base_url}/docs/assets/swagger-ui-bundle.js", timeout=10)
    assert "SwaggerUIBundle" in bundle.text
    assert httpx.get(f"{service.base_url}/redoc", timeout=10).status_code == 404  # ReDoc would load from a CDN


@pytest.fixture
def strict_context(browser, service):  # type: ignore[no-untyped-def]
    """A browser profile that enforces the pages' policies (the shared ``context`` bypasses them)."""
    ctx = browser.new_context(base_url=service.base_url, viewport={"width": 1280, "height": 860},
                              permissions=["clipboard-read", "clipboard-write"])
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


def _violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    return messages


def test_docs_renders_under_its_policy(strict_context, service: LiveService) -> None:  # type: ignore[no-untyped-def]
    page = strict_context.new_page()
    messages = _violations(page)
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=20_000)  # the operations, rendered from /openapi.json
    assert page.locator(".opblock").count() > 5
    assert not [m for m in messages if "Content Security Policy" in m or "Refused to" in m], messages


def test_the_dashboard_works_under_its_policy(strict_context, service: LiveService, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from .conftest import grant

    page = strict_context.new_page()
    messages = _violations(page)
    page.goto("/signup")
    page.locator("#email").fill("csp@example.com")
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/dashboard/"))
    grant(service, "csp@example.com", "5")
    for name in ("keys", "webhooks", "usage", "pricing", "playground"):
        page.goto(f"/dashboard/{name}")
        page.wait_for_load_state("networkidle")
    # A picked image (a blob: preview), then a video from /files played in the page.
    Image.new("RGB", (1280, 720), "teal").save(tmp_path / "still.png")
    page.locator("#prompt").fill("a teal field")
    page.locator("#image-input").set_input_files([str(tmp_path / "still.png")])
    page.locator("#thumbs li[data-upload-id] img").wait_for()
    page.locator("#duration").fill("3")
    page.locator("#generate").click()
    page.locator("#result").wait_for(state="visible", timeout=90_000)
    played = page.evaluate("""async () => {
        const v = document.getElementById('player');
        if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
        return v.duration;
    }""")
    assert abs(played - 3.0) < 0.05
    assert not [m for m in messages if "Content Security Policy" in m or "Refused to" in m], messages
