"""The worker on a real SQLite runtime with a stub engine: finish, cancel, lose, fail, release."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select

from happyhorse.db.schema import jobs
from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.status import Status
from happyhorse.worker import run as worker_run
from happyhorse.runtime import Runtime
from happyhorse.worker import Worker, WorkerThread
from happyhorse.worker.lease import CANCEL_POLL_SECONDS

from .conftest import StubEngine, output_files, wait_until, worker_running

FIFTEEN_SECONDS = 15 * 24  # frames of a 15 s job: 7.2 s of stub work when "slow"


def run_in_thread(worker: Worker, lease: ClaimedJob) -> tuple[threading.Thread, dict[str, str]]:
    outcome: dict[str, str] = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("value", worker.run_job(lease)), daemon=True)
    thread.start()
    return thread, outcome


def assert_no_outputs(runtime: Runtime, job_id: str) -> None:
    assert runtime.queue.outputs_for(job_id) == []
    assert output_files(runtime) == []


# -- completing ---------------------------------------------------------------


def test_completed_jobs_store_their_outputs_and_keep_one_engine(runtime, submit):
    constructed_before = StubEngine.constructed
    engine = StubEngine()
    worker = Worker(runtime, engine, worker_id="w1")
    submitted = [submit(), submit("another horse", aspect_ratio="9:16", resolution="1080p")]

    for job in submitted:
        lease = runtime.queue.claim_next("w1")
        assert lease is not None and lease.id == job.id
        assert worker.run_job(lease) == "completed"

    # One engine, built once, served both jobs: the model stays loaded.
    assert StubEngine.constructed == constructed_before + 1
    assert worker.engine is engine and len(engine.calls) == 2
    # The spec's size comes from the SPEC size table.
    assert [(s.width, s.height, s.num_frames) for s in engine.calls] == [(1280, 720, 72), (1080, 1920, 72)]
    for job in submitted:
        done = runtime.queue.get(job.id)
        assert done.status is Status.COMPLETED
        assert done.progress == 100 and done.engine == "stub" and done.worker_id == "w1"
        rows = {row["kind"]: row for row in runtime.queue.outputs_for(job.id)}
        assert set(rows) == {"video", "poster"}
        [output] = runtime.queue.view(job.id).outputs  # the rows are the one record of the outputs
        assert output.storage_key == rows["video"]["storage_key"]
        assert output.poster_key == rows["poster"]["storage_key"]
        for row in rows.values():
            assert row["storage_key"].startswith(f"outputs/{job.id}/1/")
            assert runtime.storage.exists(row["storage_key"])
            assert runtime.storage.size(row["storage_key"]) == row["bytes"] > 0
        assert (output.width, output.height, output.fps, output.duration) == (64, 64, 24, 3.0)
    # The per-job work directories are gone.
    assert list((runtime.settings.data_dir / "tmp").iterdir()) == []


def test_progress_rises_during_the_run_and_never_goes_down(runtime, submit):
    job = submit("slow horse")  # 72 frames, ~1.5 s
    worker = Worker(runtime, StubEngine(), worker_id="w1")
    thread, outcome = run_in_thread(worker, runtime.queue.claim_next("w1"))

    samples = []
    while thread.is_alive():
        samples.append(runtime.queue.get(job.id).progress)
        time.sleep(0.02)
    thread.join()
    samples.append(runtime.queue.get(job.id).progress)

    assert outcome == {"value": "completed"}
    assert samples == sorted(samples), samples
    assert len({p for p in samples if 0 < p < 100}) >= 3, samples  # seen rising, not jumping to the end
    assert samples[-1] == 100


# -- cancelling ---------------------------------------------------------------


def test_cancelling_a_running_job_stops_it_within_a_second(runtime, submit, account_id, monkeypatch):
    encoded: list[Any] = []
    real_encode = worker_run.encode_clip

    def recording_encode(*args: Any, **kwargs: Any) -> Any:
        encoded.append(real_encode(*args, **kwargs))
        return encoded[-1]

    monkeypatch.setattr(worker_run, "encode_clip", recording_encode)
    job = submit("slow horse", duration=15)
    engine = StubEngine()
    thread, outcome = run_in_thread(Worker(runtime, engine, worker_id="w1"), runtime.queue.claim_next("w1"))
    wait_until(lambda: engine.frames_made >= 10)

    assert runtime.queue.request_cancel(account_id, job.id).status is Status.RUNNING
    asked = time.monotonic()
    thread.join(10)
    took = time.monotonic() - asked

    assert outcome == {"value": "cancelled"}
    assert took < 4 * CANCEL_POLL_SECONDS, took
    assert engine.frames_made < FIFTEEN_SECONDS
    assert encoded == []  # the encoder never finished
    done = runtime.queue.get(job.id)
    assert done.status is Status.CANCELLED and done.result is None
    assert_no_outputs(runtime, job.id)
    assert list((runtime.settings.data_dir / "tmp").iterdir()) == []


# -- losing the lease (zombie) --------------------------------------------------


def steal(runtime: Runtime, job_id: str, thief: str) -> ClaimedJob:
    """The reaper takes the job back from its (expired) holder and ``thief`` claims it."""
    wait_until(lambda: runtime.queue.reap_expired().requeued == [job_id], timeout=5)
    lease = runtime.queue.claim_next(thief)
    assert lease is not None and lease.id == job_id
    return lease


def test_a_worker_that_loses_its_lease_mid_job_stops_and_writes_nothing(runtime, submit):
    job = submit("slow horse", duration=15)
    engine_a = StubEngine()
    lease_a = runtime.queue.claim_next("A", lease_seconds=0.2)  # expires long before the first heartbeat
    thread, outcome = run_in_thread(Worker(runtime, engine_a, worker_id="A"), lease_a)
    wait_until(lambda: runtime.queue.get(job.id).progress > 0)

    lease_b = steal(runtime, job.id, "B")
    progress = runtime.queue.get(job.id).progress
    thread.join(10)

    assert outcome == {"value": "lost"}
    assert engine_a.frames_made < FIFTEEN_SECONDS  # A stopped at its next step, not at the end
    # A's late writes change nothing.
    assert runtime.queue.report_progress(lease_a, 99) is False
    assert runtime.queue.heartbeat(lease_a).alive is False
    held = runtime.queue.get(job.id)
    assert (held.status, held.worker_id, held.lease_token, held.progress) == (Status.RUNNING, "B", 2, progress)
    assert_no_outputs(runtime, job.id)

    assert Worker(runtime, StubEngine(slow_frame_seconds=0), worker_id="B").run_job(lease_b) == "completed"
    done = runtime.queue.get(job.id)
    assert (done.status, done.worker_id) == (Status.COMPLETED, "B")
    assert {row["storage_key"].split("/")[2] for row in runtime.queue.outputs_for(job.id)} == {"2"}


class _StealOnFirstPut:
    """Storage that, on the first upload, lets ``on_first_put`` run (the zombie is paused there)."""

    def __init__(self, storage: Any, on_first_put: Any) -> None:
        self._storage, self._on_first_put, self._fired = storage, on_first_put, False
        self.put_keys: list[str] = []

    def put_file(self, key: str, *args: Any, **kwargs: Any) -> Any:
        if not self._fired:
            self._fired = True
            self._on_first_put()
        self.put_keys.append(key)
        return self._storage.put_file(key, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


def test_a_zombie_finishing_after_the_winner_deletes_its_files_and_changes_nothing(runtime, submit):
    job = submit()
    lease_a = runtime.queue.claim_next("A", lease_seconds=0.2)
    real_storage = runtime.storage
    winner: dict[str, Any] = {}

    def winner_finishes_first() -> None:
        # A is paused between encoding and storing; the reaper and B take over and finish.
        lease_b = steal(runtime, job.id, "B")
        winner["outcome"] = Worker(runtime, StubEngine(), worker_id="B").run_job(lease_b)
        winner["job"] = runtime.queue.get(job.id)
        winner["rows"] = runtime.queue.outputs_for(job.id)

    runtime.storage = storage = _StealOnFirstPut(real_storage, winner_finishes_first)
    assert Worker(runtime, StubEngine(), worker_id="A").run_job(lease_a) == "lost"

    assert winner["outcome"] == "completed"
    a_keys = [k for k in storage.put_keys if k.startswith(f"outputs/{job.id}/1/")]
    assert len(a_keys) == 2  # A did upload before it found out...
    assert not any(real_storage.exists(k) for k in a_keys)  # ...and deleted both
    assert all(p.parts[-2] == "2" for p in output_files(runtime)), output_files(runtime)
    # The winner's job, outputs and files are untouched by the zombie.
    done = runtime.queue.get(job.id)
    assert done == winner["job"]
    assert (done.status, done.worker_id, done.lease_token) == (Status.COMPLETED, "B", 2)
    assert runtime.queue.outputs_for(job.id) == winner["rows"]
    assert all(real_storage.exists(row["storage_key"]) for row in winner["rows"])


# -- failing ------------------------------------------------------------------


def test_an_engine_exception_fails_the_job_and_the_worker_goes_on(runtime, submit):
    bad, good = submit("explode, horse"), submit("a calm horse")
    worker = Worker(runtime, StubEngine(), worker_id="w1")
    with worker_running(worker) as thread:
        wait_until(lambda: runtime.queue.get(good.id).status is Status.COMPLETED, timeout=20)
        assert thread.is_alive()

    failed = runtime.queue.get(bad.id)
    assert failed.status is Status.FAILED
    assert failed.error_code == "generation_failed"
    assert "RuntimeError" in failed.error_message and "stub engine exploded" in failed.error_message
    assert failed.result is None and runtime.queue.outputs_for(bad.id) == []
    assert len(runtime.queue.outputs_for(good.id)) == 2


# -- shutting down --------------------------------------------------------------


def test_abort_releases_the_job_without_counting_the_attempt(runtime, submit):
    job = submit("slow horse", duration=15)
    engine = StubEngine()
    worker = Worker(runtime, engine, worker_id="A")

    for _ in range(runtime.settings.max_attempts + 1):  # more releases than poison allows
        worker.abort.clear()
        start = engine.frames_made
        thread, outcome = run_in_thread(worker, runtime.queue.claim_next("A"))
        wait_until(lambda: engine.frames_made >= start + 3)
        worker.abort.set()
        thread.join(5)
        assert outcome == {"value": "released"}
        released = runtime.queue.get(job.id)
        assert (released.status, released.worker_id, released.attempt, released.lease_expires_at) == (
            Status.QUEUED, None, 0, None)
        assert_no_outputs(runtime, job.id)

    # Another worker takes it and finishes it, on what counts as its first attempt.
    lease = runtime.queue.claim_next("B")
    assert lease.job.attempt == 1
    assert Worker(runtime, StubEngine(slow_frame_seconds=0), worker_id="B").run_job(lease) == "completed"
    assert runtime.queue.get(job.id).worker_id == "B"


def test_stop_and_join_lets_a_job_within_grace_finish_and_claims_no_more(runtime, submit):
    first, second = submit("slow horse"), submit("slow horse")  # ~1.5 s each
    engine = StubEngine()
    worker_thread = WorkerThread(Worker(runtime, engine, worker_id="w1"), grace_seconds=10)
    worker_thread.start()
    wait_until(lambda: engine.frames_made >= 1)

    worker_thread.stop_and_join()

    assert runtime.queue.get(first.id).status is Status.COMPLETED
    untouched = runtime.queue.get(second.id)
    assert (untouched.status, untouched.attempt) == (Status.QUEUED, 0)
    assert len(engine.calls) == 1


def test_stop_and_join_releases_a_job_that_outlasts_grace(runtime, submit):
    job = submit("slow horse", duration=15)  # ~7 s
    engine = StubEngine()
    worker_thread = WorkerThread(Worker(runtime, engine, worker_id="w1"), grace_seconds=0.3)
    worker_thread.start()
    wait_until(lambda: engine.frames_made >= 1)

    asked = time.monotonic()
    worker_thread.stop_and_join()
    took = time.monotonic() - asked

    assert 0.3 <= took < 2, took
    assert engine.frames_made < FIFTEEN_SECONDS
    released = runtime.queue.get(job.id)
    assert (released.status, released.worker_id, released.attempt) == (Status.QUEUED, None, 0)
    assert_no_outputs(runtime, job.id)
    with runtime.db.connect() as conn:  # nothing left leased
        assert conn.execute(select(jobs.c.lease_expires_at).where(jobs.c.id == job.id)).scalar() is None

