"""``happyhorse serve``/``api`` at the HTTP edge (issue 10, finding 11): a real ``serve`` process.

The data dir and database are private whatever the umask; the Host header is
pinned to the bind address (and localhost); forwarded headers are believed
only from ``--trusted-proxies``; a bad proxy address exits 2.
"""

from __future__ import annotations

import os
import sqlite3
import stat

import httpx
import pytest
import typer

from happyhorse.cli.options import HTTP, LISTEN, settings_fields
from happyhorse.settings import Settings
from happyhorse.testing import free_port


def _mode(path) -> int:  # type: ignore[no-untyped-def]
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_keeps_its_data_private_and_answers_only_its_own_host(hh, processes, tmp_path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    old_umask = os.umask(0o002)  # a permissive umask, inherited by the process
    try:
        proc = processes.start("serve-edge", "serve", "--port", str(port), "--data-dir", str(data_dir))
    finally:
        os.umask(old_umask)
    base_url = f"http://127.0.0.1:{port}"
    hh.wait_healthy(base_url, proc)
    key = (data_dir / "dev-api-key").read_text().strip()
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{base_url}/v1/models", headers=auth, timeout=10).status_code == 200
    assert httpx.get(f"{base_url}/v1/models", headers={**auth, "Host": f"localhost:{port}"}, timeout=10).status_code == 200
    evil = httpx.get(f"{base_url}/v1/models", headers={**auth, "Host": "evil.example"}, timeout=10)
    assert evil.status_code == 400 and evil.json()["error"]["code"] == "host_not_allowed"

    assert _mode(data_dir) == 0o700
    for name in ("happyhorse.db", "happyhorse.db-wal", "happyhorse.db-shm", "signing-secret", "dev-api-key"):
        if (data_dir / name).exists():
            assert _mode(data_dir / name) == 0o600, name
    assert (data_dir / "happyhorse.db-wal").exists()  # WAL: the companions exist while serving
    assert proc.stop(timeout=15) == 0


def test_an_existing_world_readable_database_is_tightened(tmp_path) -> None:
    from happyhorse.runtime import Runtime

    data_dir = tmp_path / "old"
    data_dir.mkdir()
    database = data_dir / "happyhorse.db"
    sqlite3.connect(database).close()
    os.chmod(database, 0o644)
    Runtime.open(Settings(data_dir=data_dir, signing_secret="x")).close()
    assert _mode(database) == 0o600


def http_edge(**given: object) -> dict[str, object]:
    """The Settings fields the listen and HTTP edge options give, as ``serve`` and ``api`` build them."""
    return settings_fields([LISTEN, HTTP], given)


def test_http_edge_defaults_pin_the_host_and_trust_no_proxy() -> None:
    fields = http_edge(host="127.0.0.1", public_url=None)
    assert fields.get("trusted_proxies", ()) == () and fields["allowed_hosts"] == ("127.0.0.1", "localhost", "[::1]")
    public = http_edge(host="0.0.0.0", public_url="https://video.example.com/", trusted_proxies="10.0.0.0/8, 127.0.0.1",
                       allowed_hosts=None, header_timeout=5)
    assert public["allowed_hosts"][0] == "video.example.com"
    assert public["trusted_proxies"] == ("10.0.0.0/8", "127.0.0.1")
    assert public["header_timeout_seconds"] == 5
    assert http_edge(host="127.0.0.1", public_url=None, allowed_hosts="*")["allowed_hosts"] == ("*",)


def test_a_bad_trusted_proxy_is_a_usage_error() -> None:
    with pytest.raises(typer.BadParameter, match="--trusted-proxies"):
        http_edge(host="127.0.0.1", public_url=None, trusted_proxies="10.0.0.0/8,not-an-address")
