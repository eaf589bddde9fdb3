"""Fair claims across accounts: an account that queued many jobs does not make others wait behind all of them."""

from __future__ import annotations

from happyhorse.jobs.queue import JobQueue

from .conftest import ACCOUNT, OTHER_ACCOUNT


def claim_order(queue: JobQueue, count: int, **options: int) -> list[str]:
    claimed = [queue.claim_next("w1", **options) for _ in range(count)]
    return [c.id for c in claimed if c is not None]


def test_a_later_account_is_claimed_second_not_after_the_first_accounts_twenty(queue: JobQueue, submit) -> None:
    many = [submit(account_id=ACCOUNT) for _ in range(20)]
    late = submit(account_id=OTHER_ACCOUNT)

    order = claim_order(queue, 22)

    assert order[:2] == [many[0], late]
    assert order == [many[0], late, *many[1:]]  # each account's own jobs stay oldest first


def test_accounts_take_turns_also_when_jobs_finish_between_claims(queue: JobQueue, submit) -> None:
    a_jobs = [submit(account_id=ACCOUNT) for _ in range(3)]
    b_jobs = [submit(account_id=OTHER_ACCOUNT) for _ in range(3)]
    order = []
    for _ in range(6):
        claimed = queue.claim_next("w1")
        assert claimed is not None
        order.append(claimed.id)
        # One worker: the job ends before the next claim, so nobody is "running" at claim time.
        assert queue.complete(claimed, result={}, outputs=[])
    assert order == [a_jobs[0], b_jobs[0], a_jobs[1], b_jobs[1], a_jobs[2], b_jobs[2]]


def test_priority_still_comes_before_turns(queue: JobQueue, submit) -> None:
    first = submit(account_id=ACCOUNT)
    urgent_again = submit(account_id=ACCOUNT, priority=-1)
    other = submit(account_id=OTHER_ACCOUNT)

    assert claim_order(queue, 3) == [urgent_again, other, first]


def test_the_running_cap_still_holds_with_turns(queue: JobQueue, submit) -> None:
    a_jobs = [submit(account_id=ACCOUNT) for _ in range(3)]
    b_job = submit(account_id=OTHER_ACCOUNT)

    assert claim_order(queue, 4, max_running_per_account=1) == [a_jobs[0], b_job]
    assert queue.claim_next("w1", max_running_per_account=1) is None
