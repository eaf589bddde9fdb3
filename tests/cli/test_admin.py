"""``happyhorse accounts``, ``keys`` and ``db``, run as real subprocesses.

Each test runs on the default database (SQLite in ``--data-dir``) and on
PostgreSQL given with ``--database-url``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from happyhorse.accounts import authenticate
from happyhorse.errors import AuthenticationFailed
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path) -> tuple[Path, str | None]:
    """(data dir, database URL or None for the data dir's own SQLite)."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        return data_dir, None
    return data_dir, request.getfixturevalue("postgres_url")


def _db_args(target: tuple[Path, str | None]) -> list[str]:
    data_dir, url = target
    return ["--data-dir", str(data_dir)] + (["--database-url", url] if url else [])


@contextmanager
def _db(target: tuple[Path, str | None]) -> Iterator:
    data_dir, url = target
    runtime = Runtime.open(Settings(data_dir=data_dir, database_url=url))
    try:
        yield runtime.db
    finally:
        runtime.close()


def _create_key(hh, target, account: str) -> str:
    done = hh.run("keys", "create", "--account", account, *_db_args(target))
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and done.stdout == lines[0] + "\n", f"stdout must be the key alone: {done.stdout!r}"
    return lines[0]


def test_accounts_create_prints_the_id_and_refuses_a_duplicate(hh, target) -> None:
    first = hh.run("accounts", "create", "acme", *_db_args(target))
    assert re.fullmatch(r"acct_[0-9a-z]+\n", first.stdout), first.stdout

    again = hh.run("accounts", "create", "acme", *_db_args(target), check=False)
    assert again.returncode != 0
    assert again.stdout == ""
    assert "already exists" in again.stderr and "acme" in again.stderr
    assert "Traceback" not in again.stderr

    other = hh.run("accounts", "create", "globex", *_db_args(target))
    assert other.stdout.startswith("acct_") and other.stdout != first.stdout


def test_keys_create_prints_only_the_key_and_it_authenticates(hh, target) -> None:
    account_id = hh.run("accounts", "create", "acme", *_db_args(target)).stdout.strip()
    key = _create_key(hh, target, "acme")
    assert re.fullmatch(r"hh_live_[A-Za-z0-9_-]{32}", key), key

    # As a script uses it: KEY=$(happyhorse keys create ...)
    data_dir, url = target
    env_url = f"HAPPYHORSE_DATABASE_URL={url} " if url else ""
    script = f'KEY=$({env_url}"{hh.exe}" keys create --account acme --data-dir "{data_dir}") && printf "%s" "$KEY"'
    scripted = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env=hh.env(), check=True)
    assert scripted.stdout.startswith("hh_live_") and "\n" not in scripted.stdout

    with _db(target) as db:
        for k in (key, scripted.stdout):
            account = authenticate(db, f"Bearer {k}")
            assert (account.id, account.name) == (account_id, "acme")


def test_keys_create_for_an_unknown_account_fails(hh, target) -> None:
    done = hh.run("keys", "create", "--account", "nobody", *_db_args(target), check=False)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "nobody" in done.stderr and "accounts create" in done.stderr
    assert "Traceback" not in done.stderr


def test_keys_list_shows_prefixes_never_keys(hh, target) -> None:
    hh.run("accounts", "create", "acme", *_db_args(target))
    hh.run("accounts", "create", "globex", *_db_args(target))
    keys = [_create_key(hh, target, "acme") for _ in range(2)]
    other = _create_key(hh, target, "globex")

    listed = hh.run("keys", "list", "--account", "acme", *_db_args(target)).stdout
    lines = listed.splitlines()
    assert len(lines) == 2
    for key in keys:
        assert key not in listed
        assert key[: len("hh_live_") + 4] in listed
    assert other not in listed and other[: len("hh_live_") + 4] not in listed  # another account's key
    assert all(line.startswith("key_") and "active" in line for line in lines)

    missing = hh.run("keys", "list", "--account", "nobody", *_db_args(target), check=False)
    assert missing.returncode != 0 and "nobody" in missing.stderr


@pytest.mark.parametrize("by", ["key", "id"])
def test_keys_revoke_then_authentication_fails(hh, target, by) -> None:
    hh.run("accounts", "create", "acme", *_db_args(target))
    key = _create_key(hh, target, "acme")
    kept = _create_key(hh, target, "acme")
    key_id = next(
        line.split()[0]
        for line in hh.run("keys", "list", "--account", "acme", *_db_args(target)).stdout.splitlines()
        if key[:12] in line
    )
    assert key_id.startswith("key_")

    done = hh.run("keys", "revoke", key if by == "key" else key_id, *_db_args(target))
    assert done.stdout.strip() == f"revoked {key_id}"
    assert key not in done.stdout + done.stderr

    with _db(target) as db:
        with pytest.raises(AuthenticationFailed) as caught:
            authenticate(db, f"Bearer {key}")
        assert caught.value.code == "api_key_revoked"
        assert authenticate(db, f"Bearer {kept}").name == "acme"

    listed = hh.run("keys", "list", "--account", "acme", *_db_args(target)).stdout
    assert any(line.startswith(key_id) and "revoked" in line for line in listed.splitlines())

    # Revoking again is harmless; an unknown key is an error.
    assert hh.run("keys", "revoke", key_id, *_db_args(target)).stdout.strip() == f"revoked {key_id}"
    unknown = hh.run("keys", "revoke", "hh_live_" + "x" * 32, *_db_args(target), check=False)
    assert unknown.returncode != 0 and "no such API key" in unknown.stderr


def test_db_upgrade_prints_the_revision_and_is_idempotent(hh, target, tmp_path) -> None:
    data_dir, url = target
    url = url or f"sqlite:///{tmp_path / 'explicit.db'}"
    outputs = [hh.run("db", "upgrade", "--database-url", url, "--data-dir", str(data_dir)).stdout for _ in range(2)]
    match = re.fullmatch(r"database at revision (\S+)\n", outputs[0])
    assert match, outputs[0]
    assert outputs[1] == outputs[0]
    if url.startswith("sqlite"):
        assert (tmp_path / "explicit.db").exists()
        assert not (data_dir / "happyhorse.db").exists()
    # The schema it made is the one the CLI works on.
    assert hh.run("accounts", "create", "acme", "--database-url", url, "--data-dir", str(data_dir)).stdout.startswith("acct_")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["api"],
        ["worker"],
        ["accounts"],
        ["accounts", "create"],
        ["keys"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
        ["db"],
        ["db", "upgrade"],
    ],
    ids=lambda c: "-".join(c) or "top",
)
def test_help_exits_zero(hh, command, tmp_path) -> None:
    done = subprocess.run([hh.exe, *command, "--help"], capture_output=True, text=True, timeout=60,
                          env=hh.env(HAPPYHORSE_DATA_DIR=str(tmp_path / "never-created")))
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
    assert not (tmp_path / "never-created").exists()
