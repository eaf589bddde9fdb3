"""Sweeping orphans: stored objects that no database row points at.

Files are stored *before* the transaction that records them commits, so a
process that dies in between (or loses its lease) leaves files behind:

- ``outputs/<job_id>/<lease_token>/video.mp4`` and ``poster.jpg``: a worker
  killed between storing and its fenced ``complete``, or a zombie worker that
  lost its lease and died before deleting its own files. Each attempt has its
  own folder, so an orphan never shadows the winner's output.
- ``uploads/<upload_id>.<ext>``: an image stored by ``POST /v1/uploads`` or a
  submit whose transaction then failed (a cap, a database error, a crash).

What is deleted, and why it is safe:

- Under ``outputs/<job_id>/``, every object the job's ``outputs`` rows do not
  name, once the job has *ended* (completed, failed, cancelled) at least
  ``grace_seconds`` ago by the database clock. An ended job never changes
  again and its output rows were written in the transaction that ended it,
  so no attempt can still commit a file there; the grace is a margin on top.
  Jobs that are queued or running are never looked at.
- Under ``uploads/``, an object shaped like an upload key whose ``uploads``
  row does not exist and that was written at least ``grace_seconds`` ago by
  the store's clock (a submit stores, then commits within its request).

- Uploads that *expired*: rows last used (stored, named by a submit, uploaded
  again) more than ``upload_ttl_seconds`` ago and named by no queued or running
  job. The row goes first, in a statement that re-checks it is still unused
  (see :func:`happyhorse.inputs.uploads.delete_expired_upload`), then its file.

Anything else (other prefixes, odd names, jobs the database does not know)
is left alone. Deleting is idempotent, so several sweepers may run at once.

A store that can say which hidden leftovers a write killed half way left
(:meth:`LocalStorage.list_debris <happyhorse.storage.local.LocalStorage.list_debris>`:
temp files, lone content-type sidecars) has those removed too, when older
than the grace: under an ended job's folder on every pass, under
``uploads/`` on a full sweep.

Two ways to run it: :meth:`OrphanSweeper.sweep_once` does one bounded batch
of each kind and remembers where it stopped (each worker calls it every
``storage_sweep_interval_seconds``, see ``Worker.sweep_if_due``);
:meth:`OrphanSweeper.sweep_all` goes through everything (``happyhorse storage
sweep [--dry-run]``). A zombie that writes after its job was swept is caught
by the next full sweep (and by a worker's periodic pass if that worker starts
within :data:`LOOKBACK_SECONDS` of the write).
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from happyhorse.db.clock import read_db_now
from happyhorse.db.schema import jobs, outputs, uploads
from happyhorse.jobs.status import TERMINAL
from happyhorse.storage.base import ListedObject, Storage
from happyhorse.inputs.uploads import delete_expired_upload, expired_uploads

log = logging.getLogger("happyhorse.storage.sweep")

BATCH = 500
"""Jobs (or upload keys) one batch looks at."""
LOOKBACK_SECONDS = 24 * 3600.0
"""How far back a periodic sweeper starts: jobs that ended this long before its first pass are left to ``sweep_all``."""

_UPLOAD_KEY = re.compile(r"uploads/(upload_[0-9a-z]+)\.(?:jpg|png|webp|bmp)")
_ENDED = [status.value for status in TERMINAL]


@dataclass
class SweepReport:
    """What one sweep deleted (or, in a dry run, would have deleted)."""

    dry_run: bool
    deleted: list[ListedObject] = field(default_factory=list)
    debris: list[str] = field(default_factory=list)
    """Leftovers of unfinished writes removed (paths in the store, see ``list_debris``)."""
    expired: list[str] = field(default_factory=list)
    """Storage keys of uploads deleted because they expired (their rows went too)."""
    failed: list[str] = field(default_factory=list)
    """Keys whose delete raised (logged; retried by a later sweep)."""
    jobs_checked: int = 0
    uploads_checked: int = 0

    @property
    def bytes_deleted(self) -> int:
        return sum(obj.bytes for obj in self.deleted)

    def add(self, other: SweepReport) -> None:
        self.deleted += other.deleted
        self.debris += other.debris
        self.expired += other.expired
        self.failed += other.failed
        self.jobs_checked += other.jobs_checked
        self.uploads_checked += other.uploads_checked


class OrphanSweeper:
    """Finds and deletes orphaned outputs and uploads, in bounded batches.

    Keeps two cursors between calls: the last ended job looked at (by end
    time, then id) and the last upload key looked at. ``lookback_seconds``
    is where the job cursor starts (``None``: from the very first job).
    """

    def __init__(
        self,
        db: Engine,
        storage: Storage,
        *,
        grace_seconds: float,
        batch: int = BATCH,
        lookback_seconds: float | None = LOOKBACK_SECONDS,
        dry_run: bool = False,
        upload_ttl_seconds: float = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if grace_seconds < 0 or batch < 1 or upload_ttl_seconds < 0:
            raise ValueError("grace_seconds and upload_ttl_seconds must be >= 0 and batch >= 1")
        self.db, self.storage = db, storage
        self.grace_seconds, self.batch, self.dry_run = grace_seconds, batch, dry_run
        self.upload_ttl_seconds = upload_ttl_seconds
        """Delete uploads unused for this long (0: uploads never expire)."""
        self._lookback = lookback_seconds
        self._clock = clock
        self._job_cursor: tuple[float, str] | None = None
        self._upload_cursor: str | None = None
        self._expiry_cursor: tuple[float, str] | None = None

    def sweep_once(self) -> SweepReport:
        """One batch of ended jobs, of expired uploads and of upload keys; the next call goes on from there."""
        report = self.sweep_outputs()[0]
        report.add(self.expire_uploads()[0])
        report.add(self.sweep_uploads()[0])
        return report

    def sweep_all(self) -> SweepReport:
        """Every ended job (since the lookback, if any) and every upload, batch after batch, until done."""
        self._job_cursor = self._upload_cursor = self._expiry_cursor = None
        report = SweepReport(self.dry_run)
        for step in (self.sweep_outputs, self.expire_uploads, self.sweep_uploads):
            more = True
            while more:
                batch_report, more = step()
                report.add(batch_report)
        self._sweep_debris("uploads/", report)
        return report

    # -- outputs -----------------------------------------------------------

    def sweep_outputs(self) -> tuple[SweepReport, bool]:
        """The next batch of ended jobs; returns the report and whether more jobs are waiting now."""
        report = SweepReport(self.dry_run)
        with self.db.connect().execution_options(readonly=True) as conn:
            now = read_db_now(conn)
            if self._job_cursor is None and self._lookback is not None:
                self._job_cursor = (now - self.grace_seconds - self._lookback, "")
            query = (
                select(jobs.c.id, jobs.c.completed_at)
                .where(jobs.c.status.in_(_ENDED), jobs.c.completed_at <= now - self.grace_seconds)
                .order_by(jobs.c.completed_at, jobs.c.id)
                .limit(self.batch)
            )
            if self._job_cursor is not None:
                ended_at, job_id = self._job_cursor
                query = query.where(
                    or_(jobs.c.completed_at > ended_at, and_(jobs.c.completed_at == ended_at, jobs.c.id > job_id))
                )
            ended = conn.execute(query).all()
            referenced: set[str] = set()
            if ended:
                keys = select(outputs.c.storage_key).where(outputs.c.job_id.in_([job_id for job_id, _ in ended]))
                referenced = set(conn.execute(keys).scalars())
        for job_id, _ in ended:
            for obj in self.storage.list_objects(f"outputs/{job_id}/"):
                if obj.key not in referenced:
                    self._delete(obj, report)
            self._sweep_debris(f"outputs/{job_id}/", report)
        report.jobs_checked = len(ended)
        if ended:
            self._job_cursor = (ended[-1][1], ended[-1][0])
        return report, len(ended) == self.batch

    # -- uploads -----------------------------------------------------------

    def sweep_uploads(self) -> tuple[SweepReport, bool]:
        """The next batch of upload keys; returns the report and whether more keys follow.

        After the last key the cursor goes back to the start, so repeated
        calls keep cycling through the uploads.
        """
        report = SweepReport(self.dry_run)
        listing = self.storage.list_objects("uploads/", start_after=self._upload_cursor)
        listed = list(itertools.islice(listing, self.batch))
        self._upload_cursor = listed[-1].key if len(listed) == self.batch else None
        old_enough = self._clock() - self.grace_seconds
        candidates = [obj for obj in listed if _UPLOAD_KEY.fullmatch(obj.key) and obj.modified_at <= old_enough]
        if candidates:
            upload_ids = {_UPLOAD_KEY.fullmatch(obj.key)[1] for obj in candidates}  # type: ignore[index]
            with self.db.connect().execution_options(readonly=True) as conn:
                rows = conn.execute(select(uploads.c.storage_key).where(uploads.c.id.in_(upload_ids)))
                referenced = set(rows.scalars())
            for obj in candidates:
                if obj.key not in referenced:
                    self._delete(obj, report)
        report.uploads_checked = len(listed)
        return report, self._upload_cursor is not None

    def expire_uploads(self) -> tuple[SweepReport, bool]:
        """The next batch of expired uploads (rows and files); returns the report and whether more
        follow. A dry run lists the same uploads and deletes nothing."""
        report = SweepReport(self.dry_run)
        if self.upload_ttl_seconds <= 0:
            return report, False
        with self.db.connect().execution_options(readonly=True) as conn:
            cutoff = read_db_now(conn) - self.upload_ttl_seconds
            candidates, self._expiry_cursor = expired_uploads(conn, cutoff, limit=self.batch,
                                                              after=self._expiry_cursor)
        for upload_id, key in candidates:
            if not self.dry_run:
                with self.db.begin() as conn:
                    if not delete_expired_upload(conn, upload_id, cutoff):
                        continue  # used again since it was listed
                try:
                    self.storage.delete(key)
                except OSError:  # the row is gone: the orphan pass deletes the file later
                    log.warning("could not delete expired upload %s", key, exc_info=True)
                    report.failed.append(key)
                    continue
            report.expired.append(key)
        return report, self._expiry_cursor is not None

    def _sweep_debris(self, prefix: str, report: SweepReport) -> None:
        list_debris = getattr(self.storage, "list_debris", None)
        if list_debris is None:
            return
        for name in list_debris(prefix, older_than=self._clock() - self.grace_seconds):
            if not self.dry_run:
                try:
                    self.storage.remove_debris(name)  # type: ignore[attr-defined]
                except OSError:
                    log.warning("could not delete %s", name, exc_info=True)
                    report.failed.append(name)
                    continue
            report.debris.append(name)

    # -- deleting ------------------------------------------------------------

    def _delete(self, obj: ListedObject, report: SweepReport) -> None:
        if not self.dry_run:
            try:
                self.storage.delete(obj.key)
            except OSError:
                log.warning("could not delete orphaned %s", obj.key, exc_info=True)
                report.failed.append(obj.key)
                return
        report.deleted.append(obj)
