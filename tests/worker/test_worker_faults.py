"""The worker under database faults: a hiccup neither fails a job nor kills the worker,
and heartbeats that keep failing make it give the job up (RELIABILITY.md "Jobs")."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from happyhorse.jobs.status import Status
from happyhorse.settings import Settings
from happyhorse.worker import Worker

from .conftest import StubEngine, output_files, wait_until, worker_running


def database_down(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("SELECT 1", {}, Exception("database is locked"))


def failing_once(method: Any) -> tuple[Any, list[int]]:
    calls: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            database_down()
        return method(*args, **kwargs)

    return wrapper, calls


def test_a_failed_progress_write_does_not_fail_the_job(runtime, submit, monkeypatch):
    job = submit("slow horse")
    wrapper, calls = failing_once(runtime.queue.report_progress)
    monkeypatch.setattr(runtime.queue, "report_progress", wrapper)

    assert Worker(runtime, StubEngine(), worker_id="w1").run_job(runtime.queue.claim_next("w1")) == "completed"
    assert len(calls) > 1
    assert runtime.queue.get(job.id).status is Status.COMPLETED


def test_the_worker_loop_survives_a_database_hiccup(runtime, submit, monkeypatch):
    job = submit()
    wrapper, calls = failing_once(runtime.queue.claim_next)
    monkeypatch.setattr(runtime.queue, "claim_next", wrapper)
    worker = Worker(runtime, StubEngine(), worker_id="w1")
    with worker_running(worker):
        wait_until(lambda: runtime.queue.get(job.id).status is Status.COMPLETED, timeout=20)
    assert len(calls) >= 2


@pytest.fixture
def settings(tmp_path) -> Settings:
    # Short leases so that "heartbeats keep failing for a whole lease" takes well under a second.
    return Settings(data_dir=tmp_path / "data", signing_secret="s", lease_seconds=0.6, heartbeat_seconds=0.2)


def test_a_worker_whose_heartbeats_keep_failing_gives_the_job_up(runtime, submit, monkeypatch):
    job = submit("slow horse", duration=15)  # ~7 s of work
    monkeypatch.setattr(runtime.queue, "heartbeat", database_down)
    engine = StubEngine()
    lease = runtime.queue.claim_next("w1", lease_seconds=runtime.settings.lease_seconds)
    started = time.monotonic()

    assert Worker(runtime, engine, worker_id="w1").run_job(lease) == "lost"

    assert time.monotonic() - started < 3
    assert engine.frames_made < 15 * 24
    # It wrote nothing: the reaper takes the job back as for any expired lease.
    assert runtime.queue.get(job.id).status is Status.RUNNING
    assert runtime.queue.outputs_for(job.id) == [] and output_files(runtime) == []
    wait_until(lambda: runtime.queue.reap_expired().requeued == [job.id], timeout=5)


def test_a_store_that_fails_on_the_poster_leaves_no_video_behind(runtime, submit, monkeypatch):
    """Any storage error (an object store's, not only a disk's): the video is deleted, the job is
    left to its lease (retried), and nothing is completed or charged."""
    job = submit()
    real_put = runtime.storage.put_file

    def put_file(key: str, *args: Any, **kwargs: Any) -> Any:
        if key.endswith("poster.jpg"):
            raise RuntimeError("the object store refused the request")
        return real_put(key, *args, **kwargs)

    monkeypatch.setattr(runtime.storage, "put_file", put_file)
    with pytest.raises(RuntimeError):
        Worker(runtime, StubEngine(), worker_id="w1").run_job(runtime.queue.claim_next("w1"))
    assert [p.name for p in output_files(runtime)] == []
    assert runtime.queue.get(job.id).status is Status.RUNNING  # until its lease lapses and it is retried
    assert runtime.queue.outputs_for(job.id) == []
