"""``happyhorse worker`` as a real process: SIGTERM finishes the job within grace, else releases it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from happyhorse.jobs.status import Status
from happyhorse.worker import Worker

from .conftest import StubEngine, output_files, wait_until

HAPPYHORSE = Path(sys.executable).parent / "happyhorse"

pytestmark = pytest.mark.skipif(not HAPPYHORSE.exists(), reason="the happyhorse script is not installed")


class WorkerProcess:
    def __init__(self, data_dir: Path, grace: float, log_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
        env["HAPPYHORSE_LOG_LEVEL"] = "INFO"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [str(HAPPYHORSE), "worker", "--data-dir", str(data_dir),
             "--database-url", f"sqlite:///{data_dir / 'happyhorse.db'}", "--grace", str(grace)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker did not exit within {timeout}s; log:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def start_worker(settings, tmp_path) -> Iterator:
    started: list[WorkerProcess] = []

    def _start(grace: float) -> WorkerProcess:
        started.append(WorkerProcess(settings.data_dir, grace, tmp_path / f"worker-{len(started)}.log"))
        return started[-1]

    yield _start
    for process in started:
        process.close()


def wait_until_generating(runtime, job_id: str, process: WorkerProcess) -> None:
    def generating() -> bool:
        assert process.proc.poll() is None, f"worker exited early; log:\n{process.log()}"
        job = runtime.queue.get(job_id)
        return job.status is Status.RUNNING and job.progress > 0

    wait_until(generating, timeout=60, interval=0.02)


def test_sigterm_with_a_long_grace_finishes_the_job_then_exits_0(runtime, submit, start_worker):
    job, later = submit(duration=6), submit()  # ~3 s of preview work
    process = start_worker(grace=120)
    wait_until_generating(runtime, job.id, process)

    process.proc.send_signal(signal.SIGTERM)
    signalled_at_progress = runtime.queue.get(job.id).progress

    assert process.wait(timeout=120) == 0, process.log()
    assert signalled_at_progress < 100
    done = runtime.queue.get(job.id)
    assert done.status is Status.COMPLETED, (done, process.log())
    assert done.attempt == 1 and done.engine == "preview"
    assert len(runtime.queue.outputs_for(job.id)) == 2
    assert all(runtime.storage.exists(row["storage_key"]) for row in runtime.queue.outputs_for(job.id))
    # After the signal it claimed nothing more.
    untouched = runtime.queue.get(later.id)
    assert (untouched.status, untouched.attempt) == (Status.QUEUED, 0)
    assert "finishing the running job" in process.log()


def test_sigterm_past_grace_releases_the_job_for_another_worker(runtime, submit, start_worker):
    job = submit(duration=15, resolution="1080p")
    process = start_worker(grace=0.5)
    wait_until_generating(runtime, job.id, process)

    signalled = time.monotonic()
    process.proc.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, process.log()
    assert time.monotonic() - signalled < 15, "the job ran to its end instead of being released"

    released = runtime.queue.get(job.id)
    assert (released.status, released.worker_id, released.attempt) == (Status.QUEUED, None, 0), process.log()
    assert released.lease_expires_at is None
    assert runtime.queue.outputs_for(job.id) == [] and output_files(runtime) == []

    # Another worker picks it up and completes it.
    lease = runtime.queue.claim_next("second")
    assert lease is not None and lease.id == job.id and lease.job.attempt == 1
    assert Worker(runtime, StubEngine(), worker_id="second").run_job(lease) == "completed"
    assert runtime.queue.get(job.id).status is Status.COMPLETED
