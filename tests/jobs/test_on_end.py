"""The queue settles endings itself: ``on_end`` runs once per ending, in its transaction, never when fenced out."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import update

from happyhorse.db.schema import jobs
from happyhorse.jobs.model import ClaimedJob
from happyhorse.jobs.queue import JobQueue
from happyhorse.jobs.status import Status


def _claim(queue: JobQueue) -> ClaimedJob:
    claimed = queue.claim_next("w1", lease_seconds=30)
    assert claimed is not None
    return claimed


def _lapse(queue: JobQueue, job_id: str) -> None:
    with queue.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(lease_expires_at=time.time() - 3600))


def _end_complete(queue, account, job_id, lease):  # type: ignore[no-untyped-def]
    return queue.complete(lease, result={"seed": 1}, outputs=[])


def _end_fail(queue, account, job_id, lease):  # type: ignore[no-untyped-def]
    return queue.fail(lease, code="boom", message="boom")


def _end_acknowledge_cancel(queue, account, job_id, lease):  # type: ignore[no-untyped-def]
    queue.request_cancel(account, job_id)
    return queue.acknowledge_cancel(lease)


def _end_release_cancelled(queue, account, job_id, lease):  # type: ignore[no-untyped-def]
    queue.request_cancel(account, job_id)
    return queue.release(lease)


def _end_reap_cancelled(queue, account, job_id, lease):  # type: ignore[no-untyped-def]
    queue.request_cancel(account, job_id)
    _lapse(queue, job_id)
    return queue.reap_expired().cancelled == [job_id]


def _end_reap_poisoned(queue, account, job_id, lease):  # type: ignore[no-untyped-def]
    _lapse(queue, job_id)
    return queue.reap_expired(max_attempts=1).failed == [job_id]


ENDINGS: dict[str, tuple[Callable[..., bool], Status]] = {
    "complete": (_end_complete, Status.COMPLETED),
    "fail": (_end_fail, Status.FAILED),
    "acknowledge_cancel": (_end_acknowledge_cancel, Status.CANCELLED),
    "release_cancelled": (_end_release_cancelled, Status.CANCELLED),
    "reap_cancelled": (_end_reap_cancelled, Status.CANCELLED),
    "reap_poisoned": (_end_reap_poisoned, Status.FAILED),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_each_ending_calls_on_end_once_with_its_status(queue: JobQueue, submit, account, ended, ending) -> None:
    end, status = ENDINGS[ending]
    job_id = submit()
    lease = _claim(queue)
    assert end(queue, account, job_id, lease)
    assert queue.get(job_id).status is status
    assert ended == [(job_id, status)]
    # Ending it again (a retried finish, a second reaper) ends nothing and calls nothing.
    assert not queue.complete(lease, result={}, outputs=[]) and not queue.fail(lease, code="x", message="x")
    assert not queue.acknowledge_cancel(lease) and not queue.release(lease)
    assert queue.reap_expired(max_attempts=1).failed == []
    assert ended == [(job_id, status)]


def test_a_queued_job_cancelled_at_once_calls_on_end(queue: JobQueue, submit, account, ended) -> None:
    job_id = submit()
    assert queue.request_cancel(account, job_id).status is Status.CANCELLED
    assert ended == [(job_id, Status.CANCELLED)]


def test_a_requeue_is_not_an_ending(queue: JobQueue, submit, account, ended) -> None:
    job_id = submit()
    assert queue.release(_claim(queue))  # shutdown: back in the queue
    lease = _claim(queue)
    _lapse(queue, job_id)
    assert queue.reap_expired().requeued == [job_id]  # a lost lease: back in the queue
    assert queue.request_cancel(account, job_id).status is Status.CANCELLED
    assert ended == [(job_id, Status.CANCELLED)]
    assert not queue.complete(lease, result={}, outputs=[])


@pytest.mark.parametrize("ending", ["complete", "fail", "acknowledge_cancel", "release_cancelled"])
def test_a_fenced_out_ending_never_calls_on_end(queue: JobQueue, submit, account, ended, ending) -> None:
    end, _ = ENDINGS[ending]
    job_id = submit()
    stale = _claim(queue)
    _lapse(queue, job_id)
    assert queue.reap_expired().requeued == [job_id]
    fresh = _claim(queue)  # another worker holds the job now
    assert not end(queue, account, job_id, stale)
    assert ended == []
    assert queue.get(job_id).lease_token == fresh.lease_token


def test_a_failing_hook_rolls_the_ending_back(engine, submit) -> None:  # type: ignore[no-untyped-def]
    def refuse(conn, job_id, status):  # type: ignore[no-untyped-def]
        raise RuntimeError("billing is down")

    queue = JobQueue(engine, on_end=refuse)
    job_id = submit()
    lease = queue.claim_next("w1")
    assert lease is not None
    with pytest.raises(RuntimeError, match="billing is down"):
        queue.complete(lease, result={"seed": 1}, outputs=[])
    assert queue.get(job_id).status is Status.RUNNING  # no ending without its settlement
