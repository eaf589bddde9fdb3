"""``happyhorse credits add`` and ``credits ledger`` as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from happyhorse.billing.holds import capture_hold
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings

from .conftest import submit_job

EXE = str(Path(sys.executable).parent / "happyhorse")


def hh(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
    env.update(NO_COLOR="1", COLUMNS="200", HAPPYHORSE_SIGNING_SECRET="s")
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_credits_add_and_ledger(tmp_path: Path, request: pytest.FixtureRequest, database: str) -> None:
    data_dir = tmp_path / "data"
    common = ["--data-dir", str(data_dir)]
    if database == "postgres":
        common += ["--database-url", request.getfixturevalue("postgres_url")]
    assert hh("accounts", "create", "acme", *common).returncode == 0

    added = hh("credits", "add", "acme", "12.5", "--memo", "first top-up", *common)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added 12.50 USD to acme; balance 12.50 USD"
    assert hh("credits", "add", "acme", "$0.005", *common).stdout.strip().endswith("balance 12.505 USD")

    # A job charged through the library, as the worker would.
    settings = Settings(data_dir=data_dir, signing_secret="s",
                        database_url=common[-1] if database == "postgres" else None)
    runtime = Runtime.open(settings)
    try:
        job_id = submit_job(runtime, runtime_account(runtime), duration=5).job.id
        with runtime.db.begin() as conn:
            capture_hold(conn, job_id)
        submit_job(runtime, runtime_account(runtime), duration=3)  # still pending
    finally:
        runtime.close()

    ledger = hh("credits", "ledger", "acme", *common)
    assert ledger.returncode == 0, ledger.stderr
    lines = ledger.stdout.splitlines()
    assert lines[0] == "acme: balance 11.805 USD, held 0.42 USD, available 11.385 USD"
    assert lines[1].split() == ["WHEN", "(UTC)", "KIND", "AMOUNT", "BALANCE", "JOB", "MEMO"]
    rows = [line.split() for line in lines[2:]]
    assert [row[2:5] for row in rows] == [
        ["capture", "-0.70", "11.805"], ["grant", "0.005", "12.505"], ["grant", "12.50", "12.50"]]
    assert rows[0][5] == job_id and " ".join(rows[2][6:]) == "first top-up"


def runtime_account(runtime: Runtime) -> str:
    from happyhorse.accounts import get_account_by_name

    return get_account_by_name(runtime.db, "acme").id


@pytest.mark.parametrize(("args", "message"), [
    (["credits", "add", "nobody", "5"], "no account named 'nobody'"),
    (["credits", "add", "acme", "lots"], "must be a number of US dollars"),
    (["credits", "add", "acme", "0"], "must be more than 0"),
    (["credits", "ledger", "nobody"], "no account named 'nobody'"),
])
def test_credits_errors_say_what_to_fix(tmp_path: Path, args: list[str], message: str) -> None:
    common = ["--data-dir", str(tmp_path / "data")]
    assert hh("accounts", "create", "acme", *common).returncode == 0
    failed = hh(*args, *common)
    assert failed.returncode == 1 and message in failed.stderr and "Traceback" not in failed.stderr
