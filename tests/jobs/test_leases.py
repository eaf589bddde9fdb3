"""Leases: heartbeats, the reaper, poison jobs, fencing of stale workers, release."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from happyhorse.db.schema import outputs
from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.queue import JobQueue
from happyhorse.jobs.status import Status

SHORT = 0.05


def _expire(queue: JobQueue, worker: str = "w1") -> ClaimedJob:
    claimed = queue.claim_next(worker, lease_seconds=SHORT)
    assert claimed is not None
    time.sleep(SHORT * 2)
    return claimed


def test_heartbeat_extends_the_lease(queue: JobQueue, submit) -> None:
    submit()
    claimed = queue.claim_next("w1", lease_seconds=SHORT)
    assert claimed is not None
    beat = queue.heartbeat(claimed, lease_seconds=30)
    assert (beat.alive, beat.cancel_requested) == (True, False)
    alive, cancel_requested = queue.lease_state(claimed)
    assert (alive, cancel_requested) == (True, False)
    time.sleep(SHORT * 2)
    assert queue.reap_expired().requeued == []
    job = queue.get(claimed.id)
    assert job.lease_expires_at is not None and job.heartbeat_at is not None
    assert job.lease_expires_at - job.heartbeat_at > 29


def test_expired_lease_is_requeued(queue: JobQueue, submit) -> None:
    job_id = submit()
    claimed = _expire(queue)
    reaped = queue.reap_expired()
    assert (reaped.requeued, reaped.failed, reaped.cancelled) == ([job_id], [], [])
    job = queue.get(job_id)
    assert job.status is Status.QUEUED
    assert (job.worker_id, job.lease_expires_at, job.lease_token) == (None, None, claimed.lease_token)
    assert queue.reap_expired().requeued == []
    again = queue.claim_next("w2")
    assert again is not None and (again.lease_token, again.job.attempt) == (2, 2)


def test_poison_job_fails_after_three_expiries(queue: JobQueue, submit, ended) -> None:
    job_id = submit()
    for expected in ("requeued", "requeued", "failed"):
        _expire(queue)
        reaped = queue.reap_expired(max_attempts=3)
        assert getattr(reaped, expected) == [job_id]
    job = queue.get(job_id)
    assert (job.status, job.error_code, job.attempt) == (Status.FAILED, "worker_lost", 3)
    assert job.error_message and "3 attempts" in job.error_message
    assert job.completed_at is not None
    assert ended == [(job_id, Status.FAILED)]  # a requeue ends nothing
    assert queue.claim_next("w1") is None


def test_stale_worker_writes_change_nothing(queue: JobQueue, submit, video_output, ended) -> None:
    job_id = submit()
    stale = queue.claim_next("A", lease_seconds=SHORT)
    assert stale is not None
    assert queue.report_progress(stale, 40)
    time.sleep(SHORT * 2)
    assert queue.reap_expired().requeued == [job_id]
    fresh = queue.claim_next("B", lease_seconds=30)
    assert fresh is not None and fresh.id == job_id
    before = queue.get(job_id)

    assert queue.heartbeat(stale, lease_seconds=30).alive is False
    assert queue.report_progress(stale, 90) is False
    assert queue.complete(stale, result={"seed": 1}, outputs=[video_output]) is False
    assert queue.fail(stale, code="boom", message="x") is False
    assert queue.acknowledge_cancel(stale) is False
    assert queue.release(stale) is False
    assert tuple(queue.lease_state(stale)) == (False, False)

    assert ended == []  # a fenced-out ending settles nothing
    assert queue.get(job_id) == before
    with queue.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outputs)).scalar_one() == 0
    assert queue.heartbeat(fresh).alive is True


def test_complete_writes_result_and_outputs_once(queue: JobQueue, submit, video_output, ended) -> None:
    job_id = submit()
    claimed = queue.claim_next("w1")
    assert claimed is not None
    assert queue.complete(claimed, result={"seed": 7}, outputs=[video_output], engine="preview")
    assert ended == [(job_id, Status.COMPLETED)]
    job = queue.get(job_id)
    assert job.engine == "preview"
    assert (job.status, job.progress, job.result, job.lease_expires_at) == (Status.COMPLETED, 100, {"seed": 7}, None)
    assert job.completed_at is not None and job.worker_id == "w1"
    [row] = queue.outputs_for(job_id)
    assert {k: row[k] for k in video_output} == video_output
    assert queue.complete(claimed, result={"seed": 8}, outputs=[video_output]) is False
    assert len(queue.outputs_for(job_id)) == 1


def test_fail_records_the_error(queue: JobQueue, submit) -> None:
    job_id = submit()
    claimed = queue.claim_next("w1")
    assert claimed is not None
    assert queue.fail(claimed, code="invalid_image", message="image 1 is not a PNG or JPEG")
    job = queue.get(job_id)
    assert (job.status, job.error_code, job.error_message) == (
        Status.FAILED, "invalid_image", "image 1 is not a PNG or JPEG",
    )


def test_progress_never_goes_down_and_is_clamped(queue: JobQueue, submit) -> None:
    job_id = submit()
    claimed = queue.claim_next("w1")
    assert claimed is not None
    seen = []
    for value in (10, 50, 30, 50, -5, 70, 250):
        assert queue.report_progress(claimed, value)
        seen.append(queue.get(job_id).progress)
    assert seen == [10, 50, 50, 50, 50, 70, 100]


def test_release_requeues_without_counting_an_attempt(queue: JobQueue, submit) -> None:
    job_id = submit()
    for _ in range(5):
        claimed = queue.claim_next("w1")
        assert claimed is not None
        assert queue.release(claimed)
        job = queue.get(job_id)
        assert (job.status, job.attempt, job.worker_id, job.lease_expires_at) == (Status.QUEUED, 0, None, None)
    # Two real expiries after five releases: still below the poison limit of 3.
    for _ in range(2):
        _expire(queue)
        assert queue.reap_expired(max_attempts=3).requeued == [job_id]
    _expire(queue)
    assert queue.reap_expired(max_attempts=3).failed == [job_id]
    assert queue.get(job_id).lease_token == 8


def test_release_of_a_job_being_cancelled_cancels_it(queue: JobQueue, submit, account, ended) -> None:
    job_id = submit()
    claimed = queue.claim_next("w1")
    assert claimed is not None
    queue.request_cancel(account, job_id)
    assert queue.release(claimed)
    assert ended == [(job_id, Status.CANCELLED)]
    assert queue.get(job_id).status is Status.CANCELLED


def test_reaper_cancels_an_expired_job_whose_cancel_was_requested(queue: JobQueue, submit, account) -> None:
    job_id = submit()
    claimed = queue.claim_next("w1", lease_seconds=SHORT)
    assert claimed is not None
    queue.request_cancel(account, job_id)
    time.sleep(SHORT * 2)
    assert queue.reap_expired().cancelled == [job_id]
    job = queue.get(job_id)
    assert job.status is Status.CANCELLED and job.completed_at is not None
