"""Key hygiene on a live server: typos refused without a database lookup, revoked keys
refused at once, and no key ever written to a log, stdout or stderr."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import event

from happyhorse.accounts import revoke_key
from happyhorse.accounts.key_format import new_key
from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service


@pytest.fixture
def live(tmp_path) -> Iterator[LiveService]:
    settings = Settings(data_dir=tmp_path, signing_secret="test-secret", rate_limit_per_second=1000)
    with running_service(settings) as service:
        yield service


@pytest.fixture
def api_only(tmp_path) -> Iterator[LiveService]:
    """No worker: nothing else in the process queries the database while queries are counted."""
    with running_service(Settings(data_dir=tmp_path, signing_secret="test-secret"), worker=False) as service:
        yield service


def _typo(key: str) -> str:
    position = len(key) - 10
    return key[:position] + ("a" if key[position] != "a" else "b") + key[position + 1:]


def _code(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    return response.json()["error"]["code"]


def test_a_typo_is_refused_without_touching_the_database(api_only: LiveService, monkeypatch) -> None:
    live = api_only
    queries: list[str] = []
    event.listen(live.runtime.db, "before_cursor_execute", lambda *args: queries.append(args[2]))
    polled: list[str] = []
    real_get_for_key = live.runtime.queue.get_for_key
    # The polling route runs its query on a raw DBAPI connection: count it here.
    monkeypatch.setattr(live.runtime.queue, "get_for_key",
                        lambda *args: polled.append(args[0]) or real_get_for_key(*args))
    typo = _typo(live.api_key)
    with httpx.Client(base_url=live.base_url, headers=live.headers(typo), timeout=30) as client:
        assert _code(client.get("/v1/jobs/job_whatever")) == "invalid_api_key"
        assert _code(client.get("/v1/account")) == "invalid_api_key"
        assert _code(client.post("/v1/videos/generations", json={"prompt": "p", "duration": 3})) == "invalid_api_key"
        assert (queries, polled) == ([], [])
        # A well-formed key that does not exist gets the same answer, from the database.
        # (A well-formed job id: a malformed one is a 404 that never reaches the polling query.)
        missing_job = "job_" + "0" * 26
        assert _code(client.get(f"/v1/jobs/{missing_job}", headers=live.headers(new_key()))) == "invalid_api_key"
        assert polled and queries


def test_no_key_in_logs_and_revoked_keys_fail_at_once(live: LiveService, caplog, capfd) -> None:
    # Everything at DEBUG, uvicorn's access log included (its own handler writes to stdout).
    caplog.set_level(logging.DEBUG)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "happyhorse"):
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).addHandler(caplog.handler)
    wrong = new_key()
    try:
        with httpx.Client(base_url=live.base_url, headers=live.headers(), timeout=30) as client:
            job = client.post("/v1/videos/generations", json={"prompt": "a horse", "duration": 3}).json()
            deadline = time.monotonic() + 60
            while client.get(f"/v1/jobs/{job['job_id']}").json()["status"] != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert client.get("/v1/jobs").status_code == 200
            assert _code(client.get("/v1/account", headers=live.headers(wrong))) == "invalid_api_key"
            assert _code(client.get("/v1/account", headers=live.headers(_typo(live.api_key)))) == "invalid_api_key"

            revoke_key(live.runtime.db, live.api_key)
            # At once: the next request, on the polling route and on the others.
            assert _code(client.get(f"/v1/jobs/{job['job_id']}")) == "api_key_revoked"
            assert _code(client.get("/v1/account")) == "api_key_revoked"
    finally:
        for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "happyhorse"):
            logging.getLogger(name).removeHandler(caplog.handler)
    captured = capfd.readouterr()
    logged = "\n".join(record.getMessage() + repr(record.args) for record in caplog.records)
    text = "\n".join((logged, caplog.text, captured.out, captured.err))
    assert "GET /v1/jobs/" in text, "the access log was not captured; the grep would prove nothing"
    secret_parts = (live.api_key, live.api_key[8:], wrong, wrong[8:], _typo(live.api_key)[8:])
    leaked = [part[:12] + "…" for part in secret_parts if part in text]
    assert leaked == []
