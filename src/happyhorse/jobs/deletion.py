"""Deleting an ended job (``DELETE /v1/jobs/{id}``, SPEC §11).

The job row stays, marked ``deleted_at``: its hold and ledger entries point at
it, and the ledger is append-only. From then on every read on behalf of an
account leaves the job out (404, not listed); workers and operators still see
the row. What goes:

- its outputs: the ``outputs`` rows, in the deleting transaction, then every
  stored object under ``outputs/<job_id>/`` (every attempt's folder). If the
  store fails half way, what is left has no row naming it, so the orphan sweep
  (:mod:`happyhorse.storage.sweep`) deletes it later, as it does any orphan of
  an ended job.
- its input images (always uploads, see :mod:`happyhorse.inputs.uploads`),
  row and file, unless another job of the account that is not deleted names
  the same upload (one ``upload_id`` may be used by many submits). An upload
  sent with ``POST /v1/uploads`` and used only by this job goes too: its
  ``upload_id`` is unknown afterwards. Each upload row is locked before the
  check, so a submit naming it at the same moment either commits first (and
  the upload stays) or finds it gone (400 ``upload_not_found``).
"""

from __future__ import annotations

import logging

from sqlalchemy import Text, cast, select, update
from sqlalchemy.engine import Connection, Engine

from happyhorse.db.clock import db_now
from happyhorse.db.schema import jobs, outputs, uploads
from happyhorse.errors import Conflict
from happyhorse.jobs import queries
from happyhorse.jobs.model import Job
from happyhorse.jobs.status import TERMINAL
from happyhorse.storage.base import Storage

log = logging.getLogger("happyhorse.jobs.deletion")


def delete_job(engine: Engine, storage: Storage, account_id: str, job_id: str) -> None:
    """Delete the account's ended job and its stored files.

    Raises :class:`~happyhorse.errors.NotFound` for a job that is missing, another
    account's or already deleted, and :class:`~happyhorse.errors.Conflict`
    ``job_not_ended`` for a queued or running one (cancel it first)."""
    with engine.begin() as conn:
        job = queries.get_job(conn, job_id, account_id)
        if not job.is_terminal:
            raise Conflict(
                "job_not_ended",
                f"job {job_id} is {job.status}; cancel it (POST /v1/jobs/{job_id}/cancel) and delete it once it ended",
                "job_id",
            )
        marked = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.deleted_at.is_(None),
                   jobs.c.status.in_([status.value for status in TERMINAL]))
            .values(deleted_at=db_now(conn.dialect.name))
        ).rowcount
        if marked != 1:  # deleted by a concurrent request
            raise queries.job_not_found(job_id)
        keys = list(conn.execute(select(outputs.c.storage_key).where(outputs.c.job_id == job_id)).scalars())
        conn.execute(outputs.delete().where(outputs.c.job_id == job_id))
        keys += _release_inputs(conn, job)
    # After the commit: a crash here leaves orphans for the sweep, never a row naming a missing file.
    _delete_objects(storage, keys, prefix=f"outputs/{job_id}/")


def _release_inputs(conn: Connection, job: Job) -> list[str]:
    """Delete the rows of the job's uploads no other live job of the account names; their storage keys."""
    keys: list[str] = []
    for upload_id in sorted({i.upload_id for i in job.request.inputs if i.kind == "upload" and i.upload_id}):
        key = conn.execute(
            select(uploads.c.storage_key)
            .where(uploads.c.id == upload_id, uploads.c.account_id == job.account_id)
            .with_for_update()
        ).scalar_one_or_none()
        if key is None:
            continue  # expired and swept already
        # Upload ids are unique random strings: a substring of the stored request is a reference
        # (a false match could only keep a file, never delete one still in use).
        named_elsewhere = conn.execute(
            select(jobs.c.id)
            .where(jobs.c.account_id == job.account_id, jobs.c.id != job.id, jobs.c.deleted_at.is_(None),
                   cast(jobs.c.request, Text).contains(upload_id, autoescape=True))
            .limit(1)
        ).first()
        if named_elsewhere is None:
            conn.execute(uploads.delete().where(uploads.c.id == upload_id))
            keys.append(key)
    return keys


def _delete_objects(storage: Storage, keys: list[str], *, prefix: str) -> None:
    try:
        keys = sorted(set(keys) | {obj.key for obj in storage.list_objects(prefix)})
        for key in keys:
            storage.delete(key)
    except Exception:
        log.warning("could not delete every file of a deleted job under %s; the orphan sweep will", prefix,
                    exc_info=True)
