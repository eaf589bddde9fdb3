"""``happyhorse accounts``, ``keys`` and ``db``, run as real subprocesses.

Each test runs on the default database (SQLite in ``--data-dir``) and on
PostgreSQL given with ``--database-url``. Independent commands run side by
side to keep the suite quick.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from happyhorse.accounts.keys import VISIBLE_PREFIX_CHARS, authenticate
from happyhorse.errors import AuthenticationFailed
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings

KEY_RE = re.compile(r"hh_live_[A-Za-z0-9_-]{36}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path) -> tuple[Path, str | None]:
    """(data dir, database URL or None for the data dir's own SQLite)."""
    data_dir = tmp_path / "data"
    if request.param == "sqlite":
        return data_dir, None
    return data_dir, request.getfixturevalue("postgres_url")


def _only_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and done.stdout == lines[0] + "\n", f"stdout must be one line: {done.stdout!r}"
    return lines[0]


def _failed_cleanly(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode != 0, done.stdout
    assert done.stdout == ""
    assert done.stderr.startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr


def test_accounts_and_keys_lifecycle(hh, target) -> None:
    data_dir, url = target
    db = ["--data-dir", str(data_dir)] + (["--database-url", url] if url else [])

    account_id = _only_line(hh.run("accounts", "create", "acme", *db))
    assert re.fullmatch(r"acct_[0-9a-z]+", account_id), account_id

    duplicate, no_account = hh.run_many(
        ["accounts", "create", "acme", *db],
        ["keys", "create", "--account", "nobody", *db],
    )
    _failed_cleanly(duplicate, "already exists", "'acme'")
    _failed_cleanly(no_account, "'nobody'", "happyhorse accounts create")

    # `keys create` prints the key alone, so a script can capture it.
    env_url = f'HAPPYHORSE_DATABASE_URL="{url}" ' if url else ""
    script = f'KEY=$({env_url}"{hh.exe}" keys create --account acme --data-dir "{data_dir}") && printf "%s" "$KEY"'
    scripted = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=hh.env())
    created = hh.run_many(
        ["keys", "create", "--account", "acme", *db],
        ["keys", "create", "--account", "acme", "--name", "ci", *db],
    )
    kept, script_err = scripted.communicate(timeout=60)
    assert scripted.returncode == 0, script_err
    revoke_by_key, revoke_by_id = (_only_line(done) for done in created)
    for key in (revoke_by_key, revoke_by_id, kept):
        assert KEY_RE.fullmatch(key), key

    listed = hh.run("keys", "list", "--account", "acme", *db).stdout
    lines = listed.splitlines()
    assert len(lines) == 3, listed
    assert all(line.startswith("key_") and "active" in line for line in lines), listed
    for key in (revoke_by_key, revoke_by_id, kept):
        assert key not in listed and key[:VISIBLE_PREFIX_CHARS] in listed
    assert any(line.split()[-1] == "ci" for line in lines), listed
    key_ids = {key: next(line.split()[0] for line in lines if key[:VISIBLE_PREFIX_CHARS] in line)
               for key in (revoke_by_key, revoke_by_id)}

    by_key, by_id = hh.run_many(["keys", "revoke", revoke_by_key, *db], ["keys", "revoke", key_ids[revoke_by_id], *db])
    assert _only_line(by_key) == f"revoked {key_ids[revoke_by_key]}"
    assert revoke_by_key not in by_key.stdout + by_key.stderr
    assert _only_line(by_id) == f"revoked {key_ids[revoke_by_id]}"

    runtime = Runtime.open(Settings(data_dir=data_dir, database_url=url))
    try:
        account = authenticate(runtime.db, f"Bearer {kept}")
        assert (account.id, account.name) == (account_id, "acme")
        for key in (revoke_by_key, revoke_by_id):
            with pytest.raises(AuthenticationFailed) as caught:
                authenticate(runtime.db, f"Bearer {key}")
            assert caught.value.code == "api_key_revoked"
    finally:
        runtime.close()


def test_db_upgrade_prints_the_revision_and_is_idempotent(hh, target, tmp_path) -> None:
    _, url = target
    # On SQLite: an explicit URL into a data dir that does not exist yet.
    fresh_dir = tmp_path / "fresh"
    url = url or f"sqlite:///{fresh_dir / 'hh.db'}"
    outputs = [hh.run("db", "upgrade", "--database-url", url, "--data-dir", str(fresh_dir)).stdout for _ in range(2)]
    assert re.fullmatch(r"database at revision \S+\n", outputs[0]), outputs[0]
    assert outputs[1] == outputs[0]
    if url.startswith("sqlite"):
        assert (fresh_dir / "hh.db").exists()


def test_help_of_every_command_exits_zero(hh, tmp_path) -> None:
    commands = [
        [], ["serve"], ["api"], ["worker"], ["accounts"], ["accounts", "create"], ["keys"], ["keys", "create"],
        ["keys", "list"], ["keys", "revoke"], ["db"], ["db", "upgrade"],
    ]
    home = tmp_path / "data"
    results = hh.run_many(*([*command, "--help"] for command in commands), env={"HAPPYHORSE_DATA_DIR": str(home)})
    for command, done in zip(commands, results):
        assert done.returncode == 0, (command, done.stderr)
        assert "Usage" in done.stdout, (command, done.stdout)
    # Asking for help touches no database.
    assert not home.exists()
