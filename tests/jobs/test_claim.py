"""Claiming: order, lease fields, and no double claims across processes."""

from __future__ import annotations

import multiprocessing
import pathlib
import sys
from collections import Counter

import pytest

from happyhorse.jobs.queue import JobQueue
from happyhorse.jobs.status import Status


def test_claim_returns_none_when_empty(queue: JobQueue) -> None:
    assert queue.claim_next("w1") is None


def test_claim_order_is_priority_then_age(queue: JobQueue, submit) -> None:
    late_urgent = [submit(priority=0) for _ in range(2)]
    normal = [submit(priority=5) for _ in range(3)]
    urgent = submit(priority=-1)
    claimed = [queue.claim_next("w1") for _ in range(6)]
    assert [c.id for c in claimed if c] == [urgent, *late_urgent, *normal]
    assert queue.claim_next("w1") is None


def test_claim_sets_the_lease(queue: JobQueue, submit) -> None:
    job_id = submit()
    claimed = queue.claim_next("worker-7", lease_seconds=30)
    assert claimed is not None and claimed.id == job_id
    job = claimed.job
    assert job.status is Status.RUNNING
    assert (claimed.worker_id, claimed.lease_token, job.attempt) == ("worker-7", 1, 1)
    assert job.started_at is not None and job.heartbeat_at is not None
    assert job.lease_expires_at == pytest.approx(job.heartbeat_at + 30, abs=0.5)
    assert queue.get(job_id) == job


# RELIABILITY.md's claim race: 4 processes x 2,000 claims.
CLAIMERS = 4
CLAIMS_PER_PROCESS = 2000


def test_no_job_is_claimed_twice_by_concurrent_processes(
    database_url: str, queue: JobQueue, submit_many, monkeypatch
) -> None:
    job_ids = submit_many(CLAIMERS * CLAIMS_PER_PROCESS)
    # The child processes import the claim loop by module name from this folder.
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent))
    import jobs_procs

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(CLAIMERS), ctx.Queue()
    procs = [
        ctx.Process(target=jobs_procs.claim_until_empty, args=(database_url, f"w{n}", barrier, results))
        for n in range(CLAIMERS)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    # Any exception in a claimer (a "database is locked" included) comes back as its traceback.
    errors = [o for o in outcomes if isinstance(o, str)]
    assert errors == []
    claims = Counter(job_id for claimed in outcomes for job_id in claimed)
    assert sorted(claims) == sorted(job_ids)
    assert set(claims.values()) == {1}, "a job was claimed twice"
    assert all(claimed for claimed in outcomes), "a claimer got nothing: the race was not a race"
    assert queue.count_by_status()[Status.RUNNING] == CLAIMERS * CLAIMS_PER_PROCESS
    print(f"\nCLAIM RACE [{queue.engine.dialect.name}]: claims per process {[len(c) for c in outcomes]}, "
          f"0 double claims, 0 errors", file=sys.stderr)
