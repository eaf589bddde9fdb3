"""``POST /v1/videos/generations/quote`` (SPEC §11) over real HTTP on SQLite and PostgreSQL:
the submit's rules with the submit's errors, the price, and nothing written or stored."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from happyhorse.api.schemas import QuoteObject
from happyhorse.db.schema import holds, idempotency_keys, jobs, ledger_entries, uploads
from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service

from .conftest import assert_error


def png_uri(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


IMAGE = png_uri(640, 480)


@pytest.fixture
def idle(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveService, httpx.Client]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret="s")
    with running_service(settings, worker=False) as live, httpx.Client(
        base_url=live.base_url, headers=live.headers(live.new_account_key("quoter", credits="1")), timeout=30
    ) as http:
        yield live, http


def rows(live: LiveService) -> tuple[int, ...]:
    with live.runtime.db.connect() as conn:
        return tuple(int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                     for t in (jobs, holds, uploads, ledger_entries, idempotency_keys))


def stored(live: LiveService) -> list[str]:
    return [obj.key for obj in live.runtime.storage.list_objects("")]


def quote(http: httpx.Client, **body: object) -> httpx.Response:
    return http.post("/v1/videos/generations/quote", json=body, headers={"Idempotency-Key": "k1"})


# A sample of tests/api/test_submit_rules.py: the same body answers the same error.
REFUSED = [
    ({"model": "sora-2", "prompt": "x"}, 400, "model_not_found", "model"),
    ({}, 400, "missing_required_field", "prompt"),
    ({"prompt": "x" * 2501}, 400, "prompt_too_long", "prompt"),
    ({"prompt": "x", "duration": 16}, 400, "duration_out_of_range", "duration"),
    ({"prompt": "x", "seed": -1}, 400, "seed_out_of_range", "seed"),
    ({"prompt": "x", "style": "noir"}, 400, "unknown_field", "style"),
    ({"prompt": "x", "mode": "t2v", "image": IMAGE}, 400, "mode_image_mismatch", "mode"),
    ({"prompt": "x", "image": [IMAGE] * 10}, 400, "too_many_images", "image"),
    ({"prompt": "character3 runs", "image": [IMAGE, IMAGE]}, 400, "character_reference_out_of_range", "prompt"),
    ({"prompt": "x", "image": "ftp://a/b.png"}, 400, "invalid_image_reference", "image"),
    ({"prompt": "x", "image": "upload_01jd0000000000000000000000"}, 400, "upload_not_found", "image"),
    ({"prompt": "x", "image": png_uri(299, 400)}, 400, "image_too_small", "image"),
    ({"prompt": "x", "image": png_uri(1000, 399)}, 400, "image_aspect_ratio_out_of_range", "image"),
    ({"prompt": "x", "image": "data:image/png;base64,@@@"}, 400, "invalid_data_uri", "image"),
]


def test_quote_applies_the_submit_rules_and_writes_nothing(idle) -> None:
    live, http = idle
    before, files_before = rows(live), stored(live)
    for body, status, code, param in REFUSED:
        assert_error(quote(http, **body), status, code, param)
        submitted = http.post("/v1/videos/generations", json=body)
        assert (submitted.status_code, submitted.json()["error"]["code"]) == (status, code)

    answer = quote(http, prompt="a horse", duration=5, resolution="1080P", seed=7)
    assert answer.status_code == 200, answer.text
    body = QuoteObject.model_validate(answer.json()).model_dump()
    assert body == {
        "object": "video.generation.quote", "price_usd": "0.90", "billed_seconds": 5, "unit_price_usd": "0.18",
        "available_usd": "1.00", "affordable": True, "eta_seconds": None,  # no job has completed: no history
        "request": {"model": "happyhorse-1-1", "mode": "t2v", "prompt": "a horse", "aspect_ratio": "16:9",
                    "resolution": "1080p", "duration": 5, "seed": 7, "watermark": False, "images": 0,
                    "width": 1920, "height": 1080},
    }
    # i2v follows an image at hand; a multipart body is read as the submit reads it.
    i2v = quote(http, prompt="x", image=png_uri(600, 900)).json()["request"]
    assert (i2v["mode"], i2v["aspect_ratio"], i2v["seed"]) == ("i2v", "3:4", None)
    part = base64.b64decode(IMAGE.split(",")[1])
    form = http.post("/v1/videos/generations/quote", data={"prompt": "character1 smiles", "duration": "4"},
                     files=[("image", ("a.png", part, "image/png"))])
    assert form.status_code == 200 and form.json()["request"]["mode"] == "r2v" and form.json()["price_usd"] == "0.56"
    # Too dear: a quote says so (a submit would be a 402).
    dear = quote(http, prompt="x", duration=15, resolution="1080p").json()
    assert (dear["price_usd"], dear["affordable"]) == ("2.70", False)
    assert rows(live) == before and stored(live) == files_before


def test_quote_needs_a_key(idle) -> None:
    live, _ = idle
    response = httpx.post(f"{live.base_url}/v1/videos/generations/quote", json={"prompt": "x"})
    assert_error(response, 401, response.json()["error"]["code"], None)
