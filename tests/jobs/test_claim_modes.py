"""A worker claims only the modes its engine serves (issue 13), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from happyhorse.ids import new_id
from happyhorse.jobs.fairness import mode_subset
from happyhorse.jobs.queue import JobQueue
from happyhorse.jobs.request import JobInput
from happyhorse.jobs.status import Status
from happyhorse.testing import sample_request

from .conftest import ACCOUNT, OTHER_ACCOUNT

NO_R2V = ("t2v", "i2v")


@pytest.fixture
def submit_mode(queue: JobQueue):  # type: ignore[no-untyped-def]
    """``submit_mode(mode, account_id=ACCOUNT, priority=0) -> job_id``: a queued job of ``mode``, committed."""

    def _submit(mode: str, *, account_id: str = ACCOUNT, priority: int = 0) -> str:
        images = {"t2v": 0, "i2v": 1, "r2v": 2}[mode]
        request = sample_request(mode=mode, inputs=[JobInput.upload(f"upl_{n}") for n in range(images)])
        job_id = new_id("job")
        with queue.engine.begin() as conn:
            queue.insert_job(conn, job_id=job_id, account_id=account_id, model="happyhorse-1-1", request=request,
                             priority=priority)
        return job_id

    return _submit


def claimed_ids(queue: JobQueue, count: int, **options) -> list[str | None]:  # type: ignore[no-untyped-def]
    return [c.id if c else None for c in (queue.claim_next("w", **options) for _ in range(count))]


def test_a_worker_never_claims_a_mode_its_engine_does_not_serve(queue: JobQueue, submit_mode) -> None:
    r2v = submit_mode("r2v")  # oldest and first in line
    t2v = submit_mode("t2v")
    i2v = submit_mode("i2v")

    assert claimed_ids(queue, 3, modes=NO_R2V) == [t2v, i2v, None]
    assert queue.get(r2v).status is Status.QUEUED  # passed over, not failed, not downgraded

    claimed = queue.claim_next("preview-worker", modes=("t2v", "i2v", "r2v"), engine="preview")
    assert claimed is not None and claimed.id == r2v and claimed.job.engine == "preview"
    assert claimed.job.request.mode == "r2v"


def test_every_mode_is_the_same_as_no_filter(queue: JobQueue, submit_mode) -> None:
    ids = [submit_mode(mode) for mode in ("r2v", "t2v", "i2v")]
    assert claimed_ids(queue, 3, modes=("r2v", "i2v", "t2v")) == ids
    assert mode_subset(("r2v", "i2v", "t2v")) is None and mode_subset(None) is None
    assert mode_subset(["i2v", "t2v", "i2v"]) == ("i2v", "t2v")


def test_a_single_mode_worker(queue: JobQueue, submit_mode) -> None:
    submit_mode("t2v")
    r2v = submit_mode("r2v")
    assert claimed_ids(queue, 2, modes=("r2v",)) == [r2v, None]


def test_an_account_whose_jobs_the_worker_cannot_run_does_not_block_the_others(
    queue: JobQueue, submit_mode
) -> None:
    # ACCOUNT's jobs are the oldest (and its id sorts first), so fairness would pick it, but it has only r2v.
    a_r2v = [submit_mode("r2v", account_id=ACCOUNT) for _ in range(3)]
    b_t2v = submit_mode("t2v", account_id=OTHER_ACCOUNT)

    # Turns count only the jobs the worker can run.
    assert claimed_ids(queue, 2, modes=NO_R2V) == [b_t2v, None]
    assert claimed_ids(queue, 4) == [*a_r2v, None]


def test_priority_and_the_running_cap_hold_among_the_served_modes(queue: JobQueue, submit_mode) -> None:
    urgent_r2v = submit_mode("r2v", priority=-5)
    a_jobs = [submit_mode("i2v"), submit_mode("t2v")]
    b_job = submit_mode("t2v", account_id=OTHER_ACCOUNT)

    assert claimed_ids(queue, 3, modes=NO_R2V, max_running_per_account=1) == [a_jobs[0], b_job, None]
    assert queue.get(urgent_r2v).status is Status.QUEUED
    assert claimed_ids(queue, 1, max_running_per_account=2) == [urgent_r2v]


def test_unknown_or_no_modes_are_a_programming_error(queue: JobQueue) -> None:
    with pytest.raises(ValueError, match="one or more of t2v, i2v, r2v"):
        queue.claim_next("w", modes=("t2v", "v2v"))
    with pytest.raises(ValueError):
        queue.claim_next("w", modes=())
