"""A worker frozen past its lease, and a job that crashes every worker that runs it.

Zombie: SIGSTOP a worker mid-job for longer than its lease; another worker
reaps the job and finishes it; SIGCONT the first. Its late writes are fenced
by the lease token: the job row, outputs and ledger do not change, and it
leaves no second file. Poison: the engine kills its process on every attempt;
after 3 attempts the reaper fails the job (``worker_lost``) with its hold
released, and the jobs queued behind it complete.
"""

from __future__ import annotations

import signal
import sys
import time

from sqlalchemy import select

from happyhorse.db.schema import jobs

from .conftest import HEARTBEAT_SECONDS, LEASE_SECONDS, Chaos


def _job_row(chaos: Chaos, job_id: str) -> dict:
    with chaos.runtime.db.connect() as conn:
        return dict(conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one())


def test_zombie_worker_late_writes_change_nothing(chaos: Chaos) -> None:
    started = time.monotonic()
    job = chaos.submit("a slow horse")
    # Slow enough that the zombie is still generating when it is frozen.
    zombie = chaos.pool.start("zombie", job_seconds=4.0)
    chaos.wait_until(lambda: _job_row(chaos, job.id)["progress"] > 0, 30, "zombie generating")
    zombie.popen.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()

    rescuer = chaos.pool.start("rescuer", job_seconds=0.2)
    chaos.wait_until(lambda: _job_row(chaos, job.id)["status"] == "completed", 30, "rescuer completing")
    # Frozen past its lease: the lease was last renewed at most a heartbeat before the freeze.
    assert time.monotonic() - frozen_at > LEASE_SECONDS - HEARTBEAT_SECONDS
    before = _job_row(chaos, job.id)
    assert before["worker_id"].startswith("rescuer") and before["attempt"] == 2
    facts_before = chaos.ledger()

    zombie.popen.send_signal(signal.SIGCONT)
    # The zombie notices at its next heartbeat (fenced: 0 rows) and drops its work.
    chaos.wait_until(lambda: f"job {job.id} lost" in zombie.output(), 15, "zombie giving the job up")

    assert _job_row(chaos, job.id) == before
    facts_after = chaos.ledger()
    assert facts_after == facts_before
    assert facts_after["captures"] == {job.id: 1}
    assert facts_after["video_outputs"] == {job.id: 1}
    assert len(chaos.output_dirs(job.id)) == 1
    assert zombie.alive() and rescuer.alive()  # both keep serving
    print(f"\nCHAOS zombie [{chaos.runtime.db.dialect.name}]: {time.monotonic() - started:.1f}s", file=sys.stderr)


def test_poison_job_fails_after_3_attempts_and_does_not_block_the_queue(chaos: Chaos) -> None:
    started = time.monotonic()
    poison = chaos.submit("poison horse")
    others = [chaos.submit(f"horse {i}") for i in range(6)]
    workers = [chaos.pool.start(f"w{i}", job_seconds=0.2) for i in range(2)]
    crashes = 0

    def supervise() -> None:
        # What systemd or Kubernetes would do: restart a worker that died.
        nonlocal crashes
        for slot, proc in enumerate(workers):
            if not proc.alive():
                crashes += 1
                workers[slot] = chaos.pool.start(f"w{slot}", job_seconds=0.2)

    chaos.wait_all_ended(1 + len(others), timeout=60, during=supervise)
    row = _job_row(chaos, poison.id)
    assert (row["status"], row["error_code"], row["attempt"]) == ("failed", "worker_lost", 3)
    facts = chaos.ledger()
    assert facts["holds"][poison.id] == "released"
    assert poison.id not in facts["captures"] and poison.id not in facts["video_outputs"]
    for job in others:
        assert _job_row(chaos, job.id)["status"] == "completed"
        assert facts["captures"][job.id] == 1 and facts["holds"][job.id] == "captured"
    assert facts["running"] == 0
    print(f"\nCHAOS poison [{chaos.runtime.db.dialect.name}]: {crashes} worker crashes, "
          f"{time.monotonic() - started:.1f}s", file=sys.stderr)
