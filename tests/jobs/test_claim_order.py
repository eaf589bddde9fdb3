"""One claim order: the claim takes jobs in the order queue positions count, on both read paths."""

from __future__ import annotations

from sqlalchemy import update

from happyhorse.accounts import create_key, hash_key
from happyhorse.db.schema import jobs
from happyhorse.jobs import polling
from happyhorse.jobs.queue import JobQueue


def test_each_claim_takes_the_job_at_position_1_of_both_read_paths(queue: JobQueue, submit, account) -> None:
    key_hash = hash_key(create_key(queue.engine, account).key)
    # Priorities and creation times that tie in every way the order breaks ties.
    shapes = [(1, 5.0), (0, 9.0), (1, 5.0), (0, 9.0), (2, 1.0), (0, 3.0), (1, 4.0)]
    ids = []
    for priority, created_at in shapes:
        job_id = submit(priority=priority)
        with queue.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(created_at=created_at))
        ids.append(job_id)

    claimed_order = []
    while True:
        queued = [queue.get(job_id) for job_id in ids if job_id not in claimed_order]
        by_query = queue.queue_positions(queued)
        by_polling = {job.id: polling.poll_job(queue.engine, job.id, key_hash).view.queue_position for job in queued}
        assert by_polling == by_query
        assert sorted(by_query.values()) == list(range(1, len(queued) + 1))
        claimed = queue.claim_next("w1")
        if claimed is None:
            break
        assert by_query[claimed.id] == 1, "the claim took a job that was not first in line"
        claimed_order.append(claimed.id)
    expected = sorted(ids, key=lambda job_id: (shapes[ids.index(job_id)][0], shapes[ids.index(job_id)][1], job_id))
    assert claimed_order == expected
