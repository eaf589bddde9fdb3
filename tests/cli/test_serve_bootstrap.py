"""``happyhorse serve`` as a newcomer runs it: the first start makes a ``dev``
key, prints it once and saves it (0600); later starts reuse it silently. Web
sign-up gives no credit unless the operator asks, and the banner says so."""

from __future__ import annotations

import re
import time

import httpx

from happyhorse.testing import free_port

KEY_RE = re.compile(r"hh_live_[A-Za-z0-9_-]{36}")
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _start(hh, processes, data_dir, name):  # type: ignore[no-untyped-def]
    port = free_port()
    proc = processes.start(name, "serve", "--port", str(port), "--data-dir", str(data_dir))
    base_url = f"http://127.0.0.1:{port}"
    hh.wait_healthy(base_url, proc)
    return proc, base_url


def _stop(proc) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    code = proc.stop(timeout=15)
    assert code == 0, f"serve exited {code} on SIGTERM\n{proc.output()[-3000:]}"
    assert time.monotonic() - started < 15


def test_serve_makes_the_dev_key_once(hh, processes, tmp_path) -> None:
    data_dir = tmp_path / "data"
    key_file = data_dir / "dev-api-key"

    first, base_url = _start(hh, processes, data_dir, "serve1")
    key = key_file.read_text().strip()
    assert KEY_RE.fullmatch(key), key
    assert key_file.stat().st_mode & 0o777 == 0o600
    with httpx.Client(base_url=base_url, timeout=30) as client:
        models = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert models.status_code == 200, models.text
        assert models.json()["data"][0]["engine"]["name"] == "preview"
        assert client.get("/v1/models").status_code == 401
        # A web sign-up under serve's defaults: an account with no credit (the dev account keeps its $10).
        token = TOKEN_RE.search(client.get("/signup").text).group(1)  # type: ignore[union-attr]
        signed_up = client.post("/signup", data={"email": "new@example.com", "password": "a long password",
                                                 "csrf_token": token})
        assert signed_up.status_code == 303, signed_up.text
        assert client.get("/v1/account").json()["balance_usd"] == "0.00"
        client.cookies.clear()
        assert client.get("/v1/account", headers={"Authorization": f"Bearer {key}"}).json()["balance_usd"] == "10.00"
    _stop(first)
    first_output = first.output()
    assert "each new account gets $0.00 of credit (--signup-credit)" in first_output, first_output
    assert "dev account (dev@localhost, the dev API key) was given $10.00" in first_output
    assert first_output.count(key) == 1, first_output  # printed once, never logged again
    assert KEY_RE.findall(first_output) == [key]

    second, base_url = _start(hh, processes, data_dir, "serve2")
    models = httpx.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert models.status_code == 200, models.text
    _stop(second)
    second_output = second.output()
    assert not KEY_RE.search(second_output), second_output  # no key printed on a later start
    assert str(key_file) in second_output  # ... only where it is kept
    assert key_file.read_text().strip() == key
    assert key_file.stat().st_mode & 0o777 == 0o600
