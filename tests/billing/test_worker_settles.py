"""The real worker settles holds at each ending: capture on completion, release on
failure and cancel, kept pending when it hands a job back or loses it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
from sqlalchemy import select, update

from happyhorse.billing.ledger import read_balances
from happyhorse.db.schema import holds, jobs
from happyhorse.engines import SAMPLE_RATE, Clip, EngineContext, GenerationSpec, JobCancelled
from happyhorse.runtime import Runtime
from happyhorse.worker import Worker

from .conftest import NewAccount, submit_job

FRAME = np.zeros((64, 64, 3), dtype=np.uint8)


class TinyEngine:
    """64×64 black frames; ``explode`` in the prompt raises, ``slow`` sleeps between frames."""

    name = "tiny"
    description = "test stub"

    def __init__(self) -> None:
        self.frames = 0

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip:
        if "explode" in spec.prompt:
            raise RuntimeError("tiny engine exploded")
        audio = np.zeros((2, round(spec.num_frames * SAMPLE_RATE / spec.fps)), dtype=np.float32)
        return Clip(frames=self._frames(spec, ctx), fps=spec.fps, audio=audio, sample_rate=SAMPLE_RATE,
                    num_frames=spec.num_frames)

    def _frames(self, spec: GenerationSpec, ctx: EngineContext) -> Iterator[np.ndarray]:
        for _ in range(spec.num_frames):
            if ctx.cancelled():
                raise JobCancelled()
            if "slow" in spec.prompt:
                time.sleep(0.02)
            self.frames += 1
            yield FRAME


def hold_state(runtime: Runtime, job_id: str) -> str:
    with runtime.db.connect() as conn:
        return conn.execute(select(holds.c.state).where(holds.c.job_id == job_id)).scalar_one()


def balance(runtime: Runtime, account: str) -> Decimal:
    with runtime.db.connect() as conn:
        return read_balances(conn, account).balance


def start(worker: Worker, runtime: Runtime) -> tuple[threading.Thread, dict]:
    lease = runtime.queue.claim_next(worker.worker_id)
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(value=worker.run_job(lease)), daemon=True)
    thread.start()
    return thread, outcome


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_complete_captures_and_an_engine_failure_releases(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("worker-money", "3")
    worker = Worker(runtime, TinyEngine(), worker_id="w")
    done = submit_job(runtime, account, duration=3, prompt="a horse").job
    assert worker.run_job(runtime.queue.claim_next("w")) == "completed"
    broken = submit_job(runtime, account, duration=3, prompt="explode").job
    assert worker.run_job(runtime.queue.claim_next("w")) == "failed"
    assert (hold_state(runtime, done.id), hold_state(runtime, broken.id)) == ("captured", "released")
    assert balance(runtime, account) == Decimal("2.58")


def test_cancel_while_running_releases_and_shutdown_keeps_the_hold(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("worker-stops", "3")
    engine = TinyEngine()
    job = submit_job(runtime, account, duration=15, prompt="slow horse").job
    worker = Worker(runtime, engine, worker_id="w")

    thread, outcome = start(worker, runtime)
    wait_for(lambda: engine.frames >= 3)
    worker.abort.set()  # shutdown past its grace: the job goes back to the queue, still held
    thread.join(10)
    assert outcome == {"value": "released"} and hold_state(runtime, job.id) == "pending"

    worker.abort.clear()
    thread, outcome = start(worker, runtime)
    wait_for(lambda: engine.frames >= 6)
    runtime.queue.request_cancel(account, job.id)
    thread.join(10)
    assert outcome == {"value": "cancelled"} and hold_state(runtime, job.id) == "released"
    assert balance(runtime, account) == Decimal("3")


def test_a_worker_that_lost_its_lease_charges_nothing(runtime: Runtime, new_account: NewAccount) -> None:
    account = new_account("worker-lost", "3")
    job = submit_job(runtime, account, duration=3).job
    lease = runtime.queue.claim_next("zombie")
    # The zombie stalls; the reaper requeues the job and a second worker completes it.
    with runtime.db.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job.id).values(lease_expires_at=0.0))
    Worker(runtime, TinyEngine(), worker_id="winner").housekeeping.reap_if_due()
    assert Worker(runtime, TinyEngine(), worker_id="winner").run_job(runtime.queue.claim_next("winner")) == "completed"
    assert Worker(runtime, TinyEngine(), worker_id="zombie").run_job(lease) == "lost"
    assert hold_state(runtime, job.id) == "captured"
    assert balance(runtime, account) == Decimal("2.58")
