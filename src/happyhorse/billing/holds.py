"""Holds: the price of a job reserved at submit, then captured or released once.

Life of a hold (one per job, ``UNIQUE (job_id)``)::

    pending ──job completed──▶ captured   (a ``capture`` ledger entry of -amount)
       └─────job failed or cancelled──▶ released  (nothing charged)

A hold is taken in the job's submit transaction (:func:`take_hold`) and settled
inside the job's *fenced* ending transaction: :func:`settle_hold` is the job
queue's ``on_end`` hook, which :class:`~happyhorse.jobs.queue.JobQueue` calls
only after its ``... AND lease_token = :t`` update changed the row. Each
settle is ``UPDATE holds ... WHERE job_id = :j AND state = 'pending'``; the
capture writes its ledger entry only when that update changed a row, so a
retried or stale finish charges nothing. A job requeued (shutdown, lease lost)
keeps its hold pending.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from happyhorse.billing.ledger import CAPTURE, Balances, insert_entry, read_balances
from happyhorse.billing.money import format_usd, to_decimal
from happyhorse.billing.usage import Usage
from happyhorse.db.clock import db_now
from happyhorse.db.schema import accounts, holds
from happyhorse.errors import InsufficientCredits
from happyhorse.ids import new_id
from happyhorse.jobs.status import Status

PENDING, CAPTURED, RELEASED = "pending", "captured", "released"


def take_hold(conn: Connection, *, account_id: str, job_id: str, resolution: str, duration: int) -> Usage:
    """Reserve the job's price inside the caller's (submit) transaction, or raise 402.

    Submits of one account are serialised so two cannot spend the same
    balance: PostgreSQL locks the account row until commit; SQLite's
    ``BEGIN IMMEDIATE`` already admits one writer at a time (and SQLAlchemy
    renders no ``FOR UPDATE`` there). Settling needs no lock: a capture or a
    release never lowers the available balance."""
    price = Usage.quote(resolution, duration)
    # FOR NO KEY UPDATE (key_share=True), not FOR UPDATE: the job row's foreign key
    # already took KEY SHARE on the account; FOR UPDATE would deadlock two submits.
    conn.execute(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update(key_share=True))
    balances = read_balances(conn, account_id)
    if balances.available < price.cost:
        raise insufficient_credits(price, balances, resolution)
    conn.execute(
        holds.insert().values(
            id=new_id("hold"), account_id=account_id, job_id=job_id, state=PENDING, amount=price.cost,
            unit_price=price.unit_price, billed_seconds=price.billed_seconds, created_at=db_now(conn.dialect.name),
        )
    )
    return price


def ensure_affordable(engine: Engine, account_id: str, resolution: str, duration: int) -> None:
    """A quick read-only 402 before work is done on a request's images.

    Advisory only: :func:`take_hold` decides, under the lock."""
    price = Usage.quote(resolution, duration)
    with engine.connect().execution_options(readonly=True) as conn:
        balances = read_balances(conn, account_id)
    if balances.available < price.cost:
        raise insufficient_credits(price, balances, resolution)


def insufficient_credits(price: Usage, balances: Balances, resolution: str) -> InsufficientCredits:
    held = f" (balance ${format_usd(balances.balance)}, ${format_usd(balances.held)} held for unfinished jobs)"
    return InsufficientCredits(
        "insufficient_credits",
        f"this job costs ${format_usd(price.cost)} ({price.billed_seconds} s of {resolution} at "
        f"${format_usd(price.unit_price)}/s) but the account's available balance is "
        f"${format_usd(balances.available)}{held if balances.held else ''}; "
        f"add credits, or ask for a shorter or 720p video",
        None,
    )


def capture_hold(conn: Connection, job_id: str) -> bool:
    """Charge the job's pending hold (a ``capture`` entry); False if it was not pending."""
    row = conn.execute(
        update(holds)
        .where(holds.c.job_id == job_id, holds.c.state == PENDING)
        .values(state=CAPTURED, settled_at=db_now(conn.dialect.name))
        .returning(holds.c.id, holds.c.account_id, holds.c.amount)
    ).first()
    if row is None:
        return False
    insert_entry(conn, account_id=row.account_id, kind=CAPTURE, amount=-to_decimal(row.amount), hold_id=row.id,
                 job_id=job_id)
    return True


def release_hold(conn: Connection, job_id: str) -> bool:
    """Give the job's pending hold back (nothing charged); False if it was not pending."""
    changed = conn.execute(
        update(holds)
        .where(holds.c.job_id == job_id, holds.c.state == PENDING)
        .values(state=RELEASED, settled_at=db_now(conn.dialect.name))
    ).rowcount
    return changed > 0


# -- the queue's on_end hook -------------------------------------------


def settle_hold(conn: Connection, job_id: str, status: Status) -> None:
    """Settle the hold of a job that just ended: captured if it completed, released if it
    failed or was cancelled. :class:`~happyhorse.jobs.queue.JobQueue` calls it (its
    ``on_end``, wired in :meth:`happyhorse.runtime.Runtime.open`) inside the job's
    fenced ending transaction."""
    if status is Status.COMPLETED:
        capture_hold(conn, job_id)
    elif status in (Status.FAILED, Status.CANCELLED):
        release_hold(conn, job_id)


# -- reads -------------------------------------------------------------


def captured_usage(conn: Connection, job_ids: Iterable[str]) -> dict[str, Usage]:
    """The usage of those jobs whose hold was captured, by job id, in one query."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows = conn.execute(
        select(holds.c.job_id, holds.c.billed_seconds, holds.c.unit_price, holds.c.amount)
        .where(holds.c.job_id.in_(ids), holds.c.state == CAPTURED)
    ).all()
    return {r.job_id: Usage.from_columns(r.billed_seconds, r.unit_price, r.amount) for r in rows}
