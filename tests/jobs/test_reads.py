"""Reads: pagination, queue positions, counts, and the in-process wake-up."""

from __future__ import annotations

import threading
import time

from happyhorse.ids import new_id
from happyhorse.jobs.queue import JobQueue
from happyhorse.jobs.status import Status
from happyhorse.testing import sample_request


def test_list_is_newest_first_with_a_cursor(queue: JobQueue, submit_many, submit, account, other_account) -> None:
    ids = submit_many(5)
    submit(account_id=other_account)
    page, more = queue.list_jobs(account, limit=2)
    assert [j.id for j in page] == [ids[4], ids[3]] and more
    page, more = queue.list_jobs(account, limit=2, after=page[-1].id)
    assert [j.id for j in page] == [ids[2], ids[1]] and more
    page, more = queue.list_jobs(account, limit=2, after=page[-1].id)
    assert [j.id for j in page] == [ids[0]] and not more
    page, more = queue.list_jobs(account, limit=5)
    assert len(page) == 5 and not more
    assert queue.list_jobs("acc_nobody", limit=5) == ([], False)


def test_queue_position(queue: JobQueue, submit, account) -> None:
    first, second = submit(), submit()
    urgent = submit(priority=-1)
    jobs = {j.id: j for j in queue.list_jobs(account, limit=10)[0]}
    assert [queue.queue_position(jobs[i]) for i in (urgent, first, second)] == [1, 2, 3]
    assert queue.queue_positions(jobs.values()) == {urgent: 1, first: 2, second: 3}

    claimed = queue.claim_next("w1")
    assert claimed is not None and claimed.id == urgent
    assert queue.queue_position(claimed.job) is None
    assert queue.queue_position(queue.get(second)) == 2


def test_count_by_status(queue: JobQueue, submit_many, account) -> None:
    ids = submit_many(3)
    claimed = queue.claim_next("w1")
    assert claimed is not None
    queue.request_cancel(account, ids[2])
    assert queue.count_by_status() == {
        Status.QUEUED: 1, Status.RUNNING: 1, Status.COMPLETED: 0, Status.FAILED: 0, Status.CANCELLED: 1,
    }


def _timed_wait(queue: JobQueue, timeout: float, waited: list[float]) -> threading.Thread:
    def wait() -> None:
        start = time.monotonic()
        queue.wait_for_work(timeout)
        waited.append(time.monotonic() - start)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.1)  # let it start waiting
    return thread


def test_wait_for_work_wakes_when_a_job_is_committed(queue: JobQueue, submit) -> None:
    waited: list[float] = []
    thread = _timed_wait(queue, 10, waited)
    submit()
    thread.join(5)
    assert waited and waited[0] < 2
    assert queue.claim_next("w1") is not None


def test_wait_for_work_ignores_a_rolled_back_insert(queue: JobQueue, account) -> None:
    queue.wait_for_work(0)  # forget wake-ups from earlier tests' fixtures
    waited: list[float] = []
    thread = _timed_wait(queue, 0.5, waited)
    with queue.engine.connect() as conn:
        queue.insert_job(conn, job_id=new_id("job"), account_id=account, model="m", request=sample_request())
        conn.rollback()
    thread.join(5)
    assert waited and waited[0] >= 0.45
    assert queue.claim_next("w1") is None
