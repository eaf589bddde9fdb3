"""The dashboard in a real headless Chromium, against a live service (issue 5, "How it must be shown").

One flow, in the order a new user goes: sign up → create a key and copy it →
the playground's t2v, i2v (an uploaded image) and r2v (three images) → each
video plays for its duration with sound → the usage page shows the charges and
the balance went down by exactly their price → a revoked key stops working.
Screenshots of each page are taken (HAPPYHORSE_SCREENSHOTS_DIR=docs/screenshots refreshes docs/web.md's).
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from happyhorse.media.probe import probe

from .conftest import PASSWORD, grant, screenshot

pytestmark = pytest.mark.slow

STARTING_CREDIT = Decimal("5.00")
PRICE_3S_720P = Decimal("0.42")


def make_image(path: Path, size: tuple[int, int], color: str, label: str) -> Path:
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    draw.ellipse((size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4), fill="white")
    draw.text((20, 20), label, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def generate(page, prompt: str, *, files: list[Path] = (), mode: str = "auto") -> dict:  # type: ignore[no-untyped-def]
    """Fill the playground, submit, wait for the player; returns what the page's <video> measured."""
    page.locator("#prompt").fill(prompt)
    page.locator(f"label[for=mode-{mode}]").click()
    if files:
        page.locator("#image-input").set_input_files([str(f) for f in files])
        page.wait_for_function(
            "n => document.querySelectorAll('#thumbs li[data-upload-id]').length === n", arg=len(files))
    page.locator("#duration").fill("3")
    page.locator("label[for=res-720p]").click()
    assert page.locator("#price").inner_text() == "$0.42"
    previous = page.locator("#player").get_attribute("data-job-id")
    page.locator("#generate").click()
    page.wait_for_function(
        "prev => { const v = document.getElementById('player');"
        " return !document.getElementById('result').hidden && v.dataset.jobId && v.dataset.jobId !== prev; }",
        arg=previous, timeout=90_000)
    return page.evaluate("""async () => {
        const v = document.getElementById('player');
        if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
        v.muted = true;  // autoplay policy: muted playback needs no gesture; audio is still decoded
        await v.play();
        await new Promise(r => setTimeout(r, 800));
        v.pause();
        return {jobId: v.dataset.jobId, duration: v.duration, currentTime: v.currentTime,
                audioBytes: v.webkitAudioDecodedByteCount, videoBytes: v.webkitVideoDecodedByteCount,
                width: v.videoWidth, height: v.videoHeight};
    }""")


def check_video(played: dict, key: str, base_url: str, tmp_path: Path, mode: str, images: int) -> dict:
    assert abs(played["duration"] - 3.0) < 0.05, played
    assert played["currentTime"] > 0 and played["videoBytes"] > 0, played
    assert played["audioBytes"] > 0, f"no audio decoded: {played}"
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        job = api.get(f"/v1/jobs/{played['jobId']}").json()
        assert (job["status"], job["request"]["mode"], job["request"]["images"]) == ("completed", mode, images)
        output = job["result"]["outputs"][0]
        assert output["has_audio"] is True and output["duration"] == 3.0
        assert job["usage"]["cost_usd"] == "0.42"
        video = tmp_path / f"{played['jobId']}.mp4"
        video.write_bytes(api.get(output["url"]).content)
    info = probe(video)
    assert info.has_audio and info.audio_codec == "aac" and abs(info.duration - 3.0) < 0.05
    assert (info.width, info.height) == (played["width"], played["height"])
    return job


def test_sign_up_key_playground_usage_revoke(context, service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    email = "rider@example.com"

    # Sign up (the sign-in page first, for its screenshot).
    page.goto("/signin")
    screenshot(page, "signin")
    page.goto("/signup")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    screenshot(page, "signup")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/dashboard/keys")
    grant(service, email, str(STARTING_CREDIT))

    # Create a key, copy it, and use it.
    page.locator("#key-name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    page.locator("#new-key").wait_for(state="visible")
    key = page.locator("#new-key-value").input_value()
    assert key.startswith("hh_live_")
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.wait_for_selector("#keys-table tbody tr[data-key-id]")
    screenshot(page, "api-keys")
    with httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        assert api.get("/v1/account").json()["balance_usd"] == "5.00"

    # Playground: t2v, i2v with an uploaded image, r2v with three images.
    page.goto("/dashboard/playground")
    page.wait_for_selector("body[data-ready=true]")
    # The engine is named, and the preview engine is said not to be a neural model.
    assert "Engine: preview (not a neural network)" in page.locator("#engine-note").inner_text()
    t2v = generate(page, "a horse gallops along the beach at sunset")
    check_video(t2v, key, service.base_url, tmp_path, "t2v", 0)

    photo = make_image(tmp_path / "photo.png", (640, 480), "#3a7bd5", "photo")
    i2v = generate(page, "slow push-in, leaves rustling", files=[photo])
    check_video(i2v, key, service.base_url, tmp_path, "i2v", 1)
    page.locator("#thumbs li button[aria-label^='Remove']").first.click()

    refs = [make_image(tmp_path / f"ref{n}.png", (512, 512), color, f"ref {n}")
            for n, color in enumerate(["#d53a3a", "#3ad55b", "#d5c23a"], start=1)]
    page.locator("#prompt").fill("character1 and character2 race character3")
    page.locator("#image-input").set_input_files([str(f) for f in refs])
    page.wait_for_function("document.querySelectorAll('#thumbs li[data-upload-id]').length === 3")
    assert page.locator("#thumbs .tag").all_inner_texts() == ["character1", "character2", "character3"]
    # Reorder from the keyboard: move the first image later, then back.
    first_upload = page.locator("#thumbs li").first.get_attribute("data-upload-id")
    page.locator("#thumbs li").first.get_by_role("button", name="Move character1 later").click()
    assert page.locator("#thumbs li").nth(1).get_attribute("data-upload-id") == first_upload
    page.locator("#thumbs li").nth(1).get_by_role("button", name="Move character2 earlier").click()
    assert page.locator("#thumbs li").first.get_attribute("data-upload-id") == first_upload
    assert "Auto will use references" in page.locator("#mode-hint").inner_text()
    r2v = generate(page, "character1 and character2 race character3", files=[])
    check_video(r2v, key, service.base_url, tmp_path, "r2v", 3)
    page.locator("#code-box summary").click()
    assert '"image": [' in page.locator("#code-curl").inner_text()
    assert "requests.post(" in page.locator("#code-python").inner_text()
    page.wait_for_function("document.querySelectorAll('#history li[data-job-id]').length === 3")
    screenshot(page, "playground")

    # Usage: three charges of $0.42, and the balance down by exactly their sum.
    page.goto("/dashboard/usage")
    page.wait_for_selector("body[data-ready=true]")
    spent = 3 * PRICE_3S_720P
    assert page.locator("#balance").inner_text() == f"${STARTING_CREDIT - spent:.2f}"
    assert page.locator("#spent-month").inner_text() == f"${spent:.2f}"
    assert page.locator("#ledger-table tr[data-kind=capture]").count() == 3
    assert page.locator("#jobs-table .job-cost").all_inner_texts() == ["$0.42"] * 3
    today_bar = page.locator("#chart rect.bar").last
    assert Decimal(today_bar.get_attribute("data-usd")) == spent
    screenshot(page, "usage")

    # Pricing page: rates from GET /v1/models and the calculator.
    page.goto("/dashboard/pricing")
    page.wait_for_selector("body[data-ready=true]")
    page.locator("#calc-duration").fill("10")
    page.locator("label[for=calc-res-1080p]").click()
    page.locator("#calc-count").fill("3")
    assert page.locator("#calc-total").inner_text() == "$5.40"
    screenshot(page, "pricing")

    # Revoke the key from the keys page: the API refuses it from then on.
    page.goto("/dashboard/keys")
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_selector("#keys-table .badge.revoked")
    response = httpx.get(f"{service.base_url}/v1/account", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "api_key_revoked"


def test_a_field_error_shows_beside_its_field(context, service, web_client) -> None:  # type: ignore[no-untyped-def]
    web_client.sign_up("fields@example.com")
    grant(service, "fields@example.com", "1")
    context.add_cookies([{"name": "hh_session", "value": web_client.cookies["hh_session"], "url": service.base_url}])
    page = context.new_page()
    page.goto("/dashboard/playground")
    page.wait_for_selector("body[data-ready=true]")
    page.locator("#prompt").fill("a horse in the snow")
    page.locator("#seed").fill("99999999999")  # out of range: the API names `seed`
    page.locator("#generate").click()
    error = page.locator("#err-seed")
    error.wait_for(state="visible")
    assert "2147483647" in error.inner_text()
    assert page.locator("#seed").get_attribute("aria-invalid") == "true"
    assert page.locator("#err-prompt").is_hidden() and page.locator("#err-image").is_hidden()
    # r2v without images: the API names `image`, and the seed's error is gone.
    page.locator("#seed").fill("7")
    page.locator("label[for=mode-r2v]").click()
    page.locator("#generate").click()
    page.locator("#err-image").wait_for(state="visible")
    assert "reference images" in page.locator("#err-image").inner_text()
    assert page.locator("#err-seed").is_hidden()
    # A prompt over 2,500 characters: the counter says so, and the API's error sits under the prompt.
    page.locator("label[for=mode-auto]").click()
    page.locator("#prompt").fill("x" * 2501)
    assert page.locator("#prompt-count").inner_text() == "2,501 / 2,500"
    page.locator("#generate").click()
    page.locator("#err-prompt").wait_for(state="visible")
    screenshot(page, "playground-field-error")


def open_playground(context, service, web_client, email: str):  # type: ignore[no-untyped-def]
    """A signed-in playground page, not yet loaded (the caller goes to it, after routing requests if it likes)."""
    web_client.sign_up(email)
    context.add_cookies([{"name": "hh_session", "value": web_client.cookies["hh_session"], "url": service.base_url}])
    return context.new_page()


def served_card(service) -> dict:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {service.api_key}"}) as api:
        return api.get("/v1/models").json()["data"][0]


def form_rules(page) -> dict:  # type: ignore[no-untyped-def]
    """The limits and options the playground's form has now."""
    return page.evaluate("""() => {
        const duration = document.getElementById('duration');
        const values = (selector) => [...document.querySelectorAll(selector)].map((e) => e.value);
        return {
            counter: document.getElementById('prompt-count').textContent,
            aspect_ratios: values('#aspect_ratio option'), aspect_ratio: document.getElementById('aspect_ratio').value,
            resolutions: values('input[name=resolution]'),
            resolution: document.querySelector('input[name=resolution]:checked').value,
            modes: [...document.querySelectorAll('input[name=mode]')].filter((r) => !r.hidden && !r.disabled)
                .map((r) => r.value).filter((m) => m !== 'auto'),
            duration: {min: Number(duration.min), max: Number(duration.max), step: Number(duration.step),
                       default: Number(duration.value)},
            duration_shown: document.getElementById('duration-value').textContent,
            max_images: document.getElementById('max-images').textContent,
            last_character: document.getElementById('last-character').textContent,
        };
    }""")


def test_the_playground_takes_its_limits_from_the_model_card(context, service, web_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    card = served_card(service)
    page = open_playground(context, service, web_client, "limits@example.com")
    page.goto("/dashboard/playground")
    page.wait_for_selector("body[data-ready=true]")
    assert form_rules(page) == {
        "counter": f"0 / {card['max_prompt_characters']:,}",
        "aspect_ratios": card["aspect_ratios"], "aspect_ratio": "16:9",
        "resolutions": card["resolutions"], "resolution": "720p",
        "modes": card["modes"],
        "duration": card["duration"], "duration_shown": str(card["duration"]["default"]),
        "max_images": str(card["max_images"]), "last_character": f"character{card['max_images']}",
    }
    assert page.locator("#generate").is_enabled()
    # characterN as the server reads it, a whole word: "maincharacter1" names no image, so one image is i2v.
    files = [make_image(tmp_path / f"many{n}.png", (320, 320), "#5a8", f"{n}") for n in range(card["max_images"] + 3)]
    page.locator("#prompt").fill("maincharacter1 waves")
    page.locator("#image-input").set_input_files([str(files[0])])
    page.wait_for_function("document.querySelectorAll('#thumbs li[data-upload-id]').length === 1")
    assert "Auto will use image → video" in page.locator("#mode-hint").inner_text()
    page.locator("#prompt").fill("character1 waves")
    assert "Auto will use references → video" in page.locator("#mode-hint").inner_text()
    # More images than the card's max_images: the extra ones are refused, with a word why.
    page.locator("#image-input").set_input_files([str(f) for f in files[1:]])
    page.wait_for_function("n => document.querySelectorAll('#thumbs li[data-upload-id]').length === n",
                           arg=card["max_images"])
    assert page.locator("#thumbs li").count() == card["max_images"]
    assert page.locator("#toast").text_content() == f"At most {card['max_images']} images: 3 left out"


def test_the_playground_follows_a_changed_model_card(context, service, web_client, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The service runs in this process: serve a card whose rules differ from the defaults in every limit.
    from happyhorse.api.routes import models

    real_card = models.model_card
    changed = {"modes": ["t2v", "r2v"], "aspect_ratios": ["1:1", "9:16"], "resolutions": ["1080p"],
               "duration": {"min": 4, "max": 8, "step": 2, "default": 6}, "max_prompt_characters": 1200,
               "max_images": 3}
    monkeypatch.setattr(models, "model_card", lambda runtime: {**real_card(runtime), **changed})
    card = served_card(service)
    assert {name: card[name] for name in changed} == changed

    page = open_playground(context, service, web_client, "card@example.com")
    held = []  # the card's request, held: the page must not offer Generate before it has the limits
    page.route("**/v1/models", lambda route: held.append(route))
    page.goto("/dashboard/playground")
    while not held:
        page.wait_for_timeout(20)
    page.locator("#prompt").fill("x" * 1201)
    assert page.locator("#generate").is_disabled() and page.locator("#prompt-count").inner_text() == "1,201"
    held[0].continue_()
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#generate").is_enabled()
    assert form_rules(page) == {
        "counter": "1,201 / 1,200",
        "aspect_ratios": ["1:1", "9:16"], "aspect_ratio": "1:1",  # 16:9 is not offered: the first one is chosen
        "resolutions": ["1080p"], "resolution": "1080p",
        "modes": ["t2v", "r2v"],
        "duration": changed["duration"], "duration_shown": "6",
        "max_images": "3", "last_character": "character3",
    }
    assert "over" in (page.locator("#prompt-count").get_attribute("class") or "")
    per_second = Decimal(card["pricing"]["per_second"]["1080p"])
    assert page.locator("#price").inner_text() == f"${6 * per_second:.2f}"
    assert '"aspect_ratio": "1:1"' in (page.locator("#code-curl").text_content() or "")
    # Three images at most, as the card says.
    files = [make_image(tmp_path / f"ref{n}.png", (320, 320), "#a58", f"{n}") for n in range(5)]
    page.locator("#image-input").set_input_files([str(f) for f in files])
    page.wait_for_function("document.querySelectorAll('#thumbs li[data-upload-id]').length === 3")
    assert page.locator("#thumbs li").count() == 3
    assert page.locator("#toast").text_content() == "At most 3 images: 2 left out"
    assert "Auto will use references → video: 3 reference images" in page.locator("#mode-hint").inner_text()


def test_the_playground_offers_only_the_served_modes(context, service, web_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Workers whose engine serves t2v and i2v only (issue 13): r2v is not offered.
    from happyhorse.api.routes import models

    real_card = models.model_card
    monkeypatch.setattr(models, "model_card", lambda runtime: {**real_card(runtime), "served_modes": ["t2v", "i2v"]})
    page = open_playground(context, service, web_client, "served@example.com")
    page.goto("/dashboard/playground")
    page.wait_for_selector("body[data-ready=true]")
    assert form_rules(page)["modes"] == ["t2v", "i2v"]


def test_operator_pages(context, service, web_client) -> None:  # type: ignore[no-untyped-def]
    from happyhorse.web.users import create_user

    create_user(service.runtime.db, "boss@example.com", PASSWORD, is_operator=True)
    web_client.sign_up("customer@example.com")
    page = context.new_page()
    page.goto("/signin")
    page.locator("#email").fill("boss@example.com")
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/playground")
    page.get_by_role("link", name="Operator").click()
    page.wait_for_selector("body[data-ready=true]")
    page.locator("#grant-account").select_option(label="customer@example.com")
    page.locator("#grant-amount").fill("12.50")
    page.get_by_role("button", name="Grant").click()
    page.wait_for_function("document.getElementById('grant-result').textContent.includes('$12.50')")
    row = page.locator("#accounts-table tr", has_text="customer@example.com")
    expect(row).to_contain_text("$12.50")
    screenshot(page, "operator")
    page.locator("#grant-amount").fill("-3")
    page.get_by_role("button", name="Grant").click()
    page.locator("#err-amount_usd").wait_for(state="visible")


def test_the_playground_quotes_shows_the_eta_and_deletes_an_ended_job(context, service, web_client) -> None:  # type: ignore[no-untyped-def]
    """SPEC §11 in the page: the price comes from the quote endpoint as the form changes (a refused
    quote's error beside its field), the ETA once the server has history, and delete on an ended job."""
    page = open_playground(context, service, web_client, "quote@example.com")
    quotes: list[str] = []
    page.on("request", lambda request: quotes.append(request.post_data or "")
            if request.url.endswith("/v1/videos/generations/quote") else None)
    page.goto("/dashboard/playground")
    page.wait_for_selector("body[data-ready=true]")
    per_second = Decimal(served_card(service)["pricing"]["per_second"]["1080p"])

    page.locator("#prompt").fill("a horse at the quote desk")
    page.locator("label[for=res-1080p]").click()
    page.locator("#duration").fill("4")
    expect(page.locator("#price[data-source=quote]")).to_have_text(f"${per_second * 4:.2f}")
    assert '"duration":4' in quotes[-1] and '"resolution":"1080p"' in quotes[-1]
    assert len(quotes) <= 3  # debounced: not one request per keystroke and click
    expect(page.locator("#quote-note")).to_contain_text("More than your available $0.00")  # no credit yet
    grant(service, "quote@example.com", "5")
    # A quote the API refuses: its error beside the field, before any Generate; gone once fixed.
    page.locator("#seed").fill("99999999999")
    expect(page.locator("#err-seed")).to_be_visible()
    assert "2147483647" in page.locator("#err-seed").inner_text()
    page.locator("#seed").fill("")
    expect(page.locator("#err-seed")).to_be_hidden()

    # A finished job gives the server history: the next quote carries an ETA.
    page.locator("label[for=res-720p]").click()
    page.locator("#duration").fill("3")
    page.locator("#generate").click()
    page.wait_for_function("!document.getElementById('result').hidden", timeout=90_000)
    job_id = page.locator("#player").get_attribute("data-job-id")
    service.runtime.speed._cached = None  # the server caches its measured speed for a few seconds
    page.locator("#duration").fill("4")
    expect(page.locator("#quote-note")).to_contain_text("Ready in ~")

    # Delete the ended job: confirm, DELETE, gone from the list and from the API.
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    row = page.locator(f"#history li[data-job-id='{job_id}']")
    row.locator(".delete-job").click()
    expect(row).to_have_count(0)
    assert dialogs and "a horse at the quote desk" in dialogs[0]
    assert page.locator("#result").is_hidden()
    assert page.request.get(f"/v1/jobs/{job_id}").status == 404

    # A running job's eta_seconds shows in the list (its row has no delete button: cancel comes first).
    def running_with_eta(route) -> None:  # type: ignore[no-untyped-def]
        listed = route.fetch().json()
        listed["data"].insert(0, {**listed["data"][0], "job_id": "job_01runningeta", "status": "running",
                                  "progress": 40, "eta_seconds": 65, "result": None})
        route.fulfill(json=listed)

    page.route("**/v1/jobs?limit=10", running_with_eta)
    page.locator("#generate").click()  # a new job: the list reloads when it ends, through the route
    running = page.locator("#history li[data-job-id='job_01runningeta']")
    expect(running).to_contain_text("done in ~1 min 5 s", timeout=90_000)
    assert running.locator(".delete-job").count() == 0
