"""Housekeeping is a side task: a worker busy on a long job still takes back a dead worker's job.

Two worker processes: ``busy`` works on a 60 s job; ``victim`` takes a second
job and is SIGKILLed half way. The only process left that can reap is the busy
one, mid-job: the victim's job must be back in the queue within about a lease
and a heartbeat of the kill, not after the long job.
"""

from __future__ import annotations

import time

from happyhorse.jobs.status import Status

from .conftest import HEARTBEAT_SECONDS, LEASE_SECONDS, Chaos

LONG_JOB_SECONDS = 60.0
# The lease lapses at most LEASE_SECONDS after the kill (the victim's last heartbeat was
# before it); the busy worker reaps every LEASE_SECONDS / 3. The rest is a loaded CI box.
BOUND_SECONDS = LEASE_SECONDS + HEARTBEAT_SECONDS + 2.5


def test_a_busy_worker_requeues_a_killed_workers_job_within_a_lease(chaos: Chaos) -> None:
    long_job = chaos.submit("the long one")
    chaos.pool.start("busy", job_seconds=LONG_JOB_SECONDS)
    queue = chaos.runtime.queue
    chaos.wait_until(lambda: queue.get(long_job.id).progress > 0, 30, "the long job to run", interval=0.02)

    victims_job = chaos.submit("the victim's")
    victim = chaos.pool.start("victim", job_seconds=30.0)
    chaos.wait_until(lambda: queue.get(victims_job.id).progress > 0, 30, "the victim's job to run", interval=0.02)
    assert queue.get(victims_job.id).worker_id.startswith("victim")

    chaos.pool.kill(victim)
    killed_at = time.monotonic()
    chaos.wait_until(lambda: queue.get(victims_job.id).status is Status.QUEUED, BOUND_SECONDS * 3,
                     "the victim's job to be requeued", interval=0.02)
    took = time.monotonic() - killed_at

    assert took <= BOUND_SECONDS, f"requeued {took:.1f}s after the kill (bound {BOUND_SECONDS}s)"
    # ...while the busy worker was still on its long job: the reaper did not wait for it.
    running = queue.get(long_job.id)
    assert running.status is Status.RUNNING and running.worker_id.startswith("busy")
