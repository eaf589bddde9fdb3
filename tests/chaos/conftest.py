"""Fixtures for the chaos tests: real worker processes on a stub engine, killed on purpose.

Each test gets its own data dir and database (SQLite file or a fresh
PostgreSQL database), migrated once here before any worker starts. Workers
are ``stub_worker.py`` processes: the product's Runtime, Worker and SIGTERM
handling around a stub engine that takes a fraction of a second per job.
Leases are short (2 s, heartbeat 0.5 s) so that a killed worker's job comes
back within seconds and the whole suite stays within its time budget.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits
from happyhorse.db.schema import holds, jobs, ledger_entries, outputs, webhook_deliveries
from happyhorse.submit.request import parse_generation_request
from happyhorse.jobs.model import Job
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.submit.service import submit_generation

STUB_WORKER = Path(__file__).with_name("stub_worker.py")
LEASE_SECONDS = 2.0
HEARTBEAT_SECONDS = 0.5


@dataclass
class WorkerProc:
    """One ``stub_worker.py`` process and its log file."""

    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class WorkerPool:
    """Starts, kills and restarts worker processes; kills every leftover at the end."""

    data_dir: Path
    database_url: str
    log_dir: Path
    procs: list[WorkerProc] = field(default_factory=list)
    extra: list[subprocess.Popen] = field(default_factory=list)
    """Other processes a test started (an API): killed at the end like the workers."""
    _files: list[Any] = field(default_factory=list)

    def start(self, name: str, *, job_seconds: float = 0.3, lease: float = LEASE_SECONDS,
              heartbeat: float = HEARTBEAT_SECONDS, max_attempts: int = 3, options: Sequence[str] = ()) -> WorkerProc:
        log = self.log_dir / f"{name}-{len(self.procs)}.log"
        f = open(log, "w")
        self._files.append(f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
        env.update(PYTHONUNBUFFERED="1", HAPPYHORSE_LOG_LEVEL="INFO")
        popen = subprocess.Popen(
            [sys.executable, str(STUB_WORKER), "--data-dir", str(self.data_dir), "--database-url",
             self.database_url, "--job-seconds", str(job_seconds), "--lease", str(lease),
             "--heartbeat", str(heartbeat), "--max-attempts", str(max_attempts), "--worker-id", f"{name}-{len(self.procs)}",
             *options],
            stdout=f, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
        )
        proc = WorkerProc(name, popen, log)
        self.procs.append(proc)
        return proc

    def kill(self, proc: WorkerProc, sig: int = signal.SIGKILL) -> None:
        proc.popen.send_signal(sig)
        if sig == signal.SIGKILL:
            proc.popen.wait(10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive():
                # A SIGSTOPped process ignores nothing but SIGKILL; CONT first is harmless.
                proc.popen.send_signal(signal.SIGCONT)
                proc.popen.kill()
        for popen in self.extra:
            if popen.poll() is None:
                popen.kill()
            popen.wait(10)
        for proc in self.procs:
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        for f in self._files:
            f.close()

    def logs(self, tail: int = 2000) -> str:
        return "\n".join(f"--- {p.log.name} (rc {p.popen.poll()})\n{p.output()[-tail:]}" for p in self.procs)


@dataclass
class Chaos:
    """One test's world: a migrated database, an account with credit, and a worker pool."""

    runtime: Runtime
    account_id: str
    pool: WorkerPool

    def submit(self, prompt: str = "a horse", **fields: Any) -> Job:
        """A queued job with its hold, committed (720p, 3 s: the cheapest request)."""
        request = parse_generation_request({"prompt": prompt, "duration": 3, "seed": 7, **fields})
        return submit_generation(self.runtime, self.account_id, request, [])[0]

    def statuses(self) -> dict[str, int]:
        with self.runtime.db.connect() as conn:
            rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
        return {status: count for status, count in rows}

    def wait_all_ended(self, total: int, *, timeout: float, during: Callable[[], None] | None = None) -> None:
        """Wait until ``total`` jobs have ended, calling ``during`` between looks (the chaos)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.statuses()
            ended = sum(counts.get(s, 0) for s in ("completed", "failed", "cancelled"))
            if ended >= total:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"only {ended}/{total} jobs ended in {timeout}s: {counts}\n{self.pool.logs()}")
            if during is not None:
                during()
            time.sleep(0.1)

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str, *, interval: float = 0.05) -> None:
        """Wait for ``predicate``; fail naming ``what``, with the workers' logs, after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"{what} not within {timeout}s\n{self.pool.logs()}"
            time.sleep(interval)

    def ledger(self) -> dict[str, Any]:
        """Per-job facts for the invariants: outputs, captures, hold states, attempts."""
        with self.runtime.db.connect() as conn:
            job_rows = conn.execute(select(jobs.c.id, jobs.c.status, jobs.c.attempt, jobs.c.error_code)).all()
            out = dict(conn.execute(select(outputs.c.job_id, func.count()).where(outputs.c.kind == "video")
                                    .group_by(outputs.c.job_id)).all())
            caps = dict(conn.execute(select(ledger_entries.c.job_id, func.count())
                                     .where(ledger_entries.c.kind == "capture")
                                     .group_by(ledger_entries.c.job_id)).all())
            hold_states = dict(conn.execute(select(holds.c.job_id, holds.c.state)).all())
            expired_running = conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.status == "running")
            ).scalar_one()
        return {"jobs": job_rows, "video_outputs": out, "captures": caps, "holds": hold_states,
                "running": expired_running}

    def delivery_states(self) -> Counter:
        """How many webhook deliveries are in each status (pending, delivered...)."""
        with self.runtime.db.connect() as conn:
            return Counter(dict(conn.execute(select(webhook_deliveries.c.status, func.count())
                                             .group_by(webhook_deliveries.c.status)).all()))

    def stored_outputs_exist(self) -> bool:
        """Every ``outputs`` row points at a file that is really stored."""
        with self.runtime.db.connect() as conn:
            keys = conn.execute(select(outputs.c.storage_key)).scalars().all()
        missing = [k for k in keys if not (self.runtime.settings.files_dir / k).is_file()]
        assert not missing, missing
        return True

    def output_dirs(self, job_id: str) -> list[Path]:
        """The attempt folders under ``outputs/<job>/`` that hold a stored video."""
        root = self.runtime.settings.files_dir / "outputs" / job_id
        return sorted(p.parent for p in root.glob("*/video.mp4")) if root.exists() else []


@pytest.fixture
def chaos(database_url: str, tmp_path: Path) -> Iterator[Chaos]:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, database_url=database_url, signing_secret="chaos", engine="stub",
                        lease_seconds=LEASE_SECONDS, heartbeat_seconds=HEARTBEAT_SECONDS)
    runtime = Runtime.open(settings)
    account = create_account(runtime.db, "chaos")
    grant_credits(runtime.db, account.id, Decimal("100000"))
    logs = tmp_path / "logs"
    logs.mkdir()
    pool = WorkerPool(data_dir, database_url, logs)
    try:
        yield Chaos(runtime, account.id, pool)
    finally:
        pool.close()
        runtime.close()


# --- A private PostgreSQL cluster (tests/chaos/pg_cluster.py): one a test may restart. ---


@pytest.fixture
def private_cluster() -> Iterator[Any]:
    """A PostgreSQL server of this test's own (never the shared one), destroyed afterwards."""
    if os.environ.get("HAPPYHORSE_TEST_POSTGRES", "1") == "0":
        pytest.skip("HAPPYHORSE_TEST_POSTGRES=0")
    from .pg_cluster import ClusterUnavailable, PrivateCluster

    try:
        cluster = PrivateCluster.create()
    except ClusterUnavailable as exc:
        pytest.skip(f"no private PostgreSQL cluster: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_chaos(private_cluster: Any, tmp_path: Path) -> Iterator[Chaos]:
    """Like ``chaos``, on the private cluster (migrated, an account with credit, a worker pool)."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, database_url=private_cluster.url, signing_secret="chaos", engine="stub",
                        lease_seconds=LEASE_SECONDS, heartbeat_seconds=HEARTBEAT_SECONDS)
    runtime = Runtime.open(settings)  # migrates
    account = create_account(runtime.db, "chaos")
    grant_credits(runtime.db, account.id, Decimal("100000"))
    logs = tmp_path / "logs"
    logs.mkdir()
    pool = WorkerPool(data_dir, private_cluster.url, logs)
    try:
        yield Chaos(runtime, account.id, pool)
    finally:
        pool.close()
        runtime.close()
