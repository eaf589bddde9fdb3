"""Cancelling: queued at once, running via the worker, ended ones refused, others' hidden."""

from __future__ import annotations

import pytest

from happyhorse.errors import Conflict, NotFound
from happyhorse.jobs.queue import JobQueue
from happyhorse.jobs.status import Status


def test_cancel_of_a_queued_job_is_immediate(queue: JobQueue, submit, account, ended) -> None:
    job_id = submit()
    job = queue.request_cancel(account, job_id)
    assert job.status is Status.CANCELLED and job.completed_at is not None
    assert ended == [(job_id, Status.CANCELLED)]
    assert queue.get(job_id) == job
    assert queue.claim_next("w1") is None


def test_cancel_of_a_running_job_goes_through_the_worker(queue: JobQueue, submit, account) -> None:
    job_id = submit()
    claimed = queue.claim_next("w1")
    assert claimed is not None
    assert queue.heartbeat(claimed).cancel_requested is False
    assert queue.acknowledge_cancel(claimed) is False  # nobody asked yet

    job = queue.request_cancel(account, job_id)
    assert (job.status, job.cancel_requested) == (Status.RUNNING, True)
    assert queue.request_cancel(account, job_id).cancel_requested is True  # asking twice is fine
    beat = queue.heartbeat(claimed)
    assert (beat.alive, beat.cancel_requested) == (True, True)
    assert queue.lease_state(claimed) == (True, True)
    assert queue.acknowledge_cancel(claimed)
    job = queue.get(job_id)
    assert job.status is Status.CANCELLED and job.completed_at is not None


@pytest.mark.parametrize("ending", ["complete", "fail", "cancel"])
def test_cancel_of_an_ended_job_is_a_conflict(queue: JobQueue, submit, account, ending: str) -> None:
    job_id = submit()
    if ending == "cancel":
        queue.request_cancel(account, job_id)
    else:
        claimed = queue.claim_next("w1")
        assert claimed is not None
        if ending == "complete":
            assert queue.complete(claimed, result={}, outputs=[])
        else:
            assert queue.fail(claimed, code="x", message="y")
    status = queue.get(job_id).status
    with pytest.raises(Conflict) as raised:
        queue.request_cancel(account, job_id)
    assert raised.value.status == 409 and raised.value.code == "job_not_cancellable"
    assert f"already {status}" in raised.value.message


def test_another_accounts_job_is_not_found(queue: JobQueue, submit, other_account) -> None:
    job_id = submit()
    for call in (lambda: queue.request_cancel(other_account, job_id), lambda: queue.get(job_id, other_account)):
        with pytest.raises(NotFound) as raised:
            call()
        assert (raised.value.code, raised.value.param) == ("job_not_found", "job_id")
    assert queue.get(job_id).status is Status.QUEUED


def test_unknown_job_is_not_found(queue: JobQueue, account) -> None:
    with pytest.raises(NotFound):
        queue.request_cancel(account, "job_nope")
    with pytest.raises(NotFound):
        queue.get("job_nope")
