"""Fair claims: whose job a worker takes next.

First come, first served across accounts lets one account that queues many
jobs (or many slow ones) make everyone else wait behind all of them. So a
claim first picks an *account*, then that account's next job:

1. among accounts with a queued job (and, with a running cap, fewer than the
   cap running), the one whose next job has the lowest ``priority``;
2. then the one served least recently: the latest ``started_at`` of any of
   its jobs, an account never served counting as served first;
3. then the one whose next job is oldest;

and the job is that account's next one by (priority, created_at, id), as
before. Accounts thus take turns: with K accounts waiting, each gets a job at
least once every K claims, however many jobs the others queued.

Cost: the waiting accounts are listed by a recursive "loose index scan" (one
seek per waiting account into ``ix_jobs_status_account_priority_created``,
not a scan of every queued job), and each account's next job, last service
(``ix_jobs_account_id_started_at``) and running count are one seek each; the
claim of the chosen account's job is one seek too.

A worker whose engine serves only some modes (:func:`mode_subset`) sees only
the queued jobs of those modes, in every step above: an account whose jobs
it cannot run is not chosen. The mode lives in the job's stored request
(JSON), so that filter reads each candidate row; a worker that serves every
mode (``preview``, ``ltx2``) adds no filter at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select

from happyhorse.db.schema import jobs
from happyhorse.jobs.queries import claim_order
from happyhorse.jobs.status import Status
from happyhorse.rules import RULES

NEVER_SERVED = -1.0
"""The ``started_at`` an account that never had a job claimed sorts as: before every real time."""


def mode_subset(modes: Iterable[str] | None) -> tuple[str, ...] | None:
    """The modes a claim must keep to, sorted; None when that is every mode (no filter)."""
    if modes is None:
        return None
    subset = tuple(sorted(set(modes)))
    unknown = set(subset) - set(RULES.modes)
    if unknown or not subset:
        raise ValueError(f"a worker must serve one or more of {', '.join(RULES.modes)}, got {list(modes)!r}")
    return None if set(subset) == set(RULES.modes) else subset


def mode_in(rows: Any, modes: tuple[str, ...] | None) -> ColumnElement[bool]:
    """Rows of ``rows`` (``jobs`` or an alias) whose stored request's mode is one of ``modes``
    (``request->>'mode'`` on PostgreSQL, ``json_extract`` on SQLite)."""
    assert modes is not None
    return rows.c.request["mode"].as_string().in_(modes)


@lru_cache(maxsize=16)
def next_account_query(max_running_per_account: int = 0, modes: tuple[str, ...] | None = None) -> Select:
    """``SELECT`` of the one account whose job should be claimed next (no row: nothing claimable).

    ``max_running_per_account`` (0: no cap) leaves out accounts that already
    run that many jobs; ``modes`` (from :func:`mode_subset`; None: every mode)
    counts only jobs of those modes. Built once per cap and modes: building it
    takes longer than running it."""
    queued = Status.QUEUED.value
    waiting = _waiting_accounts(modes)
    account = waiting.c.account_id

    head = jobs.alias("head")
    next_job = (
        select(head.c.priority, head.c.created_at)
        .where(head.c.status == queued, head.c.account_id == account)
        .order_by(*claim_order(head))
        .limit(1)
    )
    if modes is not None:
        next_job = next_job.where(mode_in(head, modes))
    served = jobs.alias("served")
    last_served = (
        select(served.c.started_at)
        .where(served.c.account_id == account, served.c.started_at.is_not(None))
        .order_by(served.c.started_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(account).where(account.is_not(None))
    if max_running_per_account > 0:
        running = jobs.alias("running")
        running_count = (
            select(func.count()).select_from(running)
            .where(running.c.status == Status.RUNNING.value, running.c.account_id == account)
            .scalar_subquery()
        )
        query = query.where(running_count < max_running_per_account)
    return query.order_by(
        next_job.with_only_columns(head.c.priority).scalar_subquery(),
        func.coalesce(last_served, literal(NEVER_SERVED)),
        next_job.with_only_columns(head.c.created_at).scalar_subquery(),
        account,
    ).limit(1)


def _waiting_accounts(modes: tuple[str, ...] | None):  # type: ignore[no-untyped-def]
    """A recursive CTE of the distinct accounts with queued jobs (of ``modes``, if given),
    in account order, ending in one NULL.

    Each step seeks the next account id past the previous one, so it costs
    one index seek per account, whatever their jobs number (with ``modes``,
    it also reads past that account's jobs of other modes)."""
    queued = Status.QUEUED.value
    first = jobs.alias("first_waiting")
    first_query = select(first.c.account_id).where(first.c.status == queued)
    if modes is not None:
        first_query = first_query.where(mode_in(first, modes))
    start = select(
        first_query
        .order_by(first.c.account_id)
        .limit(1)
        .scalar_subquery()
        .label("account_id")
    ).cte("waiting", recursive=True)
    after = jobs.alias("next_waiting")
    step_query = select(after.c.account_id).where(after.c.status == queued, after.c.account_id > start.c.account_id)
    if modes is not None:
        step_query = step_query.where(mode_in(after, modes))
    step = (
        step_query
        .order_by(after.c.account_id)
        .limit(1)
        .scalar_subquery()
    )
    return start.union_all(select(step).where(start.c.account_id.is_not(None)))
