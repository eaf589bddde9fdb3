"""Per-account caps on jobs: how many may wait queued, how many may run at once.

The queued cap is checked at submit, inside the submit transaction, after the
hold has locked the account's row (see :func:`happyhorse.billing.holds.take_hold`):
two submits of one account cannot both slip under it. The running cap is
enforced by the workers' claim (:meth:`happyhorse.jobs.queue.JobQueue.claim_next`):
a job whose account already runs that many stays queued, and others' jobs go first.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from happyhorse.db.schema import jobs
from happyhorse.errors import RateLimited
from happyhorse.jobs.status import Status

QUEUED_RETRY_AFTER_SECONDS = 30
"""What a 429 ``too_many_queued_jobs`` tells clients to wait: jobs take tens of seconds or more."""


def ensure_queued_within_cap(conn: Connection, account_id: str, cap: int) -> None:
    """Raise 429 ``too_many_queued_jobs`` if the account has more than ``cap`` queued jobs
    (the one being submitted included: this runs after its insert). ``cap`` 0 means no cap."""
    if cap <= 0:
        return
    queued = conn.execute(
        select(func.count()).select_from(jobs)
        .where(jobs.c.account_id == account_id, jobs.c.status == Status.QUEUED.value)
    ).scalar_one()
    if queued > cap:
        raise RateLimited(
            "too_many_queued_jobs",
            f"too many queued jobs: an account may have at most {cap} queued at once; "
            "wait for some to start or cancel some, then retry",
            None,
            headers={"Retry-After": str(QUEUED_RETRY_AFTER_SECONDS)},
        )
