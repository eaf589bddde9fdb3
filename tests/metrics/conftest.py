"""Metrics fixtures: a live service whose /metrics answers a token, ``happyhorse`` subprocesses,
and a migrated database with an account for the webhook delivery loop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from happyhorse.db.clock import db_now
from happyhorse.db.engine import make_engine
from happyhorse.db.migrate import upgrade
from happyhorse.db.schema import accounts
from happyhorse.settings import Settings

TOKEN = "metrics-token-for-tests"
SIGNING_SECRET = "metrics-test-signing-secret"
EXE = str(Path(sys.executable).parent / "happyhorse")
ACCOUNT = "acc_metrics"


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    """``settings_for(database_url, **fields)``: Settings in a fresh data dir with the test token."""

    def make(database_url: str | None = None, **fields: object) -> Settings:
        fields.setdefault("metrics_token", TOKEN)
        return Settings(data_dir=tmp_path / "data", database_url=database_url, signing_secret=SIGNING_SECRET,
                        **fields)  # type: ignore[arg-type]

    return make


def wait_until(check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 90) -> tuple[dict, int]:
    """Poll ``GET /v1/jobs/{id}`` until the job ends; (its last answer, how many polls it took)."""
    polls = 0
    deadline = time.monotonic() + timeout
    while True:
        polls += 1
        body = client.get(f"/v1/jobs/{job_id}").json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body, polls
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not end in time: {body}")
        time.sleep(0.1)


@dataclass
class Spawned:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Spawner:
    """Starts ``happyhorse`` (or ``python``) subprocesses with a clean environment; kills leftovers at the end."""

    log_dir: Path
    procs: list[Spawned] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HAPPYHORSE_", "PROMETHEUS_"))}
        env.update(HAPPYHORSE_SIGNING_SECRET=SIGNING_SECRET, PYTHONUNBUFFERED="1", NO_COLOR="1")
        env.update(extra)
        return env

    def start(self, name: str, *args: str, env: dict[str, str] | None = None, python: bool = False) -> Spawned:
        log = self.log_dir / f"{name}.log"
        command = [sys.executable, *args] if python else [EXE, *args]
        with open(log, "w") as f:
            popen = subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT, env=self.env(**(env or {})),
                                     stdin=subprocess.DEVNULL)
        proc = Spawned(name, popen, log)
        self.procs.append(proc)
        return proc

    def run_python(self, name: str, code: str, *args: str, env: dict[str, str] | None = None) -> str:
        proc = self.start(name, "-c", code, *args, env=env, python=True)
        assert proc.popen.wait(60) == 0, proc.output()
        return proc.output()

    def close(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.kill()
        for proc in self.procs:
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass


@pytest.fixture
def spawner(tmp_path: Path) -> Iterator[Spawner]:
    logs = tmp_path / "logs"
    logs.mkdir()
    spawned = Spawner(logs)
    try:
        yield spawned
    finally:
        spawned.close()


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    """A migrated database (SQLite and PostgreSQL) with one account, :data:`ACCOUNT`."""
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(insert(accounts).values(id=ACCOUNT, name=ACCOUNT, created_at=db_now(conn.dialect.name)))
    yield engine
    engine.dispose()


POSTGRES_ADMIN_URL = os.environ.get("HAPPYHORSE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def take_database_away() -> Callable[..., None]:
    """``take_database_away(runtime, database_url)``: the database stops answering for good (SQLite:
    its file becomes a directory; PostgreSQL: the database is dropped), and the pool forgets it."""

    def take(runtime, database_url: str) -> None:  # type: ignore[no-untyped-def]
        runtime.db.dispose()
        if database_url.startswith("sqlite"):
            path = Path(database_url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                moved = path.with_name(path.name + suffix)
                if moved.exists():
                    moved.rename(moved.with_name(moved.name + ".gone"))
            path.mkdir()  # "unable to open database file" from now on
        else:
            import psycopg

            name = database_url.rsplit("/", 1)[1]
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        runtime.db.dispose()

    return take
