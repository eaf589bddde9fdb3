"""Through a live API: ``GET /v1/models`` says which modes the registered workers serve, and a
submit of a mode none of them serves is a 400 ``mode_not_served`` (issue 13)."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
from sqlalchemy import update

from happyhorse.db.clock import read_db_now
from happyhorse.db.schema import workers
from happyhorse.settings import Settings
from happyhorse.testing import running_service

from .conftest import assert_error
from .test_submit_rules import IMAGE

ALL_MODES = ["t2v", "i2v", "r2v"]


@pytest.fixture
def service(tmp_path):  # type: ignore[no-untyped-def]
    """An API of its own (this file registers workers), without a worker."""
    settings = Settings(data_dir=tmp_path / "hh", signing_secret="test-secret")
    with running_service(settings, worker=False) as live:
        yield live


@pytest.fixture
def api(service):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=service.base_url, headers=service.headers(), timeout=30) as client:
        yield client


def card(api: httpx.Client) -> dict:
    [listed] = api.get("/v1/models").json()["data"]
    assert api.get("/v1/models/happyhorse-1-1").json() == listed
    return listed


R2V = {"prompt": "character1 meets character2", "image": [IMAGE, IMAGE]}


def test_with_no_worker_registered_the_card_says_so_and_every_mode_queues(api) -> None:
    model = card(api)
    assert model["modes"] == ALL_MODES and model["served_modes"] == ALL_MODES
    assert model["workers"] == {"registered": 0, "engines": []}
    response = api.post("/v1/videos/generations", json=R2V)
    assert response.status_code == 202 and response.json()["request"]["mode"] == "r2v"


def test_a_mode_no_registered_worker_serves_is_refused(service, api) -> None:
    service.runtime.workers.register("gpu-1:7:a", "magihuman", ("t2v", "i2v"))
    model = card(api)
    assert model["modes"] == ALL_MODES  # the model's modes, unchanged
    assert model["served_modes"] == ["t2v", "i2v"]
    assert model["workers"] == {"registered": 1,
                                "engines": [{"name": "magihuman", "modes": ["t2v", "i2v"], "workers": 1}]}

    # r2v by auto (two images) and by name: refused, nothing held.
    before = api.get("/v1/account").json()["held_usd"]
    for body in (R2V, {**R2V, "mode": "r2v"}, {"prompt": "character1 waves", "image": IMAGE}):
        error = assert_error(api.post("/v1/videos/generations", json=body), 400, "mode_not_served", "mode")
        assert "r2v" in error["message"] and "t2v, i2v" in error["message"] and "magihuman" in error["message"]
    assert api.get("/v1/account").json()["held_usd"] == before
    assert api.get("/v1/jobs").json()["data"] == []
    # The served modes are accepted; multipart too goes through the same check.
    assert api.post("/v1/videos/generations", json={"prompt": "a horse"}).status_code == 202
    assert api.post("/v1/videos/generations", json={"prompt": "a horse", "image": IMAGE}).status_code == 202
    multipart = api.post("/v1/videos/generations", data={"prompt": "x", "mode": "r2v"},
                         files=[("image", ("a.png", _png_bytes(), "image/png"))])
    assert_error(multipart, 400, "mode_not_served", "mode")

    # A worker that serves r2v joins the deployment: r2v is served again.
    service.runtime.workers.register("cpu-1:8:b", "preview", ALL_MODES)
    model = card(api)
    assert model["served_modes"] == ALL_MODES and model["workers"]["registered"] == 2
    assert api.post("/v1/videos/generations", json=R2V).status_code == 202

    # It stops cleanly: refused again. The first one lapses too: nothing is known, nothing refused.
    service.runtime.workers.unregister("cpu-1:8:b")
    assert_error(api.post("/v1/videos/generations", json=R2V), 400, "mode_not_served", "mode")
    window = service.runtime.settings.worker_seen_seconds
    with service.runtime.db.begin() as conn:
        conn.execute(update(workers).values(last_seen_at=read_db_now(conn) - window - 1))
    assert card(api)["workers"] == {"registered": 0, "engines": []}
    assert api.post("/v1/videos/generations", json=R2V).status_code == 202


def test_a_live_worker_registers_its_engines_modes(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "hh", signing_secret="test-secret")
    with running_service(settings) as live, httpx.Client(base_url=live.base_url, headers=live.headers()) as api:
        # The in-process worker registers as it starts, beside the server.
        for _ in range(200):
            model = card(api)
            if model["workers"]["registered"]:
                break
            time.sleep(0.02)
        assert model["served_modes"] == ALL_MODES
        assert model["workers"] == {"registered": 1,
                                    "engines": [{"name": "preview", "modes": ALL_MODES, "workers": 1}]}


def _png_bytes() -> bytes:
    return base64.b64decode(IMAGE.split(",", 1)[1])
