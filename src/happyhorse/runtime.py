"""The parts one process needs, built once from :class:`Settings`.

The API, the worker and the CLI all start from ``Runtime.open(settings)``, so
every process of a deployment sees the same database, storage and signing key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from happyhorse.billing.holds import settle_hold
from happyhorse.db.engine import make_engine
from happyhorse.jobs.eta import SpeedMeter
from happyhorse.jobs.queue import JobQueue
from happyhorse.jobs.registry import WorkerRegistry
from happyhorse.metrics.registry import Metrics
from happyhorse.private_files import make_private_dir, make_private_sqlite_file
from happyhorse.settings import Settings
from happyhorse.storage.base import Storage
from happyhorse.storage.signing import UrlSigner
from happyhorse.webhooks.outbox import ending_hooks, record_started_event, record_webhook_event


@dataclass
class Runtime:
    settings: Settings
    db: Engine
    queue: JobQueue
    storage: Storage
    signer: UrlSigner
    workers: WorkerRegistry = field(init=False)
    """The registry of running workers (which modes the deployment serves), on ``db``."""

    speed: SpeedMeter = field(init=False)
    """Measured engine speed, for ``eta_seconds`` (see happyhorse.jobs.eta)."""

    metrics: Metrics = field(init=False)
    """This process's Prometheus metrics (see happyhorse.metrics): the API and an in-process worker share them."""

    def __post_init__(self) -> None:
        self.workers = WorkerRegistry(self.db)
        self.metrics = Metrics()
        self.speed = SpeedMeter(
            self.db, lambda: len(self.workers.serving(self.settings.worker_seen_seconds).workers)
        )

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        """Connect to the database (upgrading its schema unless ``migrate`` is false)
        and the storage named by ``settings``."""
        from happyhorse.db.migrate import upgrade

        make_private_dir(settings.data_dir)
        storage = open_storage(settings)  # first: a bad bucket fails before the database is touched
        url = settings.resolved_database_url
        make_private_sqlite_file(url)  # 0600 before SQLite creates it (its -wal/-shm copy the mode)
        if migrate:
            upgrade(url)
        db = make_engine(url)
        return cls(
            settings=settings,
            db=db,
            # Wired here, once: every ending settles the job's hold and writes its webhook
            # event (the outbox), both in the transaction that ends the job; a job's first
            # claim writes its video.started event.
            queue=JobQueue(db, on_end=ending_hooks(settle_hold, record_webhook_event),
                           on_start=record_started_event),
            storage=storage,
            signer=UrlSigner(settings.resolved_signing_secret()),
        )

    def engine_info(self) -> dict:
        """What ``GET /v1/models`` says about the engine this deployment runs."""
        from happyhorse.engines import ENGINE_INFO

        return ENGINE_INFO.get(self.settings.engine, {"name": self.settings.engine, "description": "", "neural": True})

    def close(self) -> None:
        self.db.dispose()


def open_storage(settings: Settings) -> Storage:
    """The store ``settings.storage`` names, ready to use.

    ``s3``: raises :class:`~happyhorse.storage.s3.S3Unavailable` (with why) if
    boto3 is not installed or the bucket cannot be reached with these
    credentials (a HeadBucket at startup, so a typo fails now, not on the first job).
    """
    if settings.storage == "local":
        from happyhorse.storage.local import LocalStorage

        return LocalStorage(settings.files_dir)
    if settings.storage == "s3":
        from happyhorse.storage.s3 import S3Storage, S3Unavailable

        if not settings.s3_bucket:
            raise S3Unavailable("S3 storage needs a bucket (--s3-bucket or HAPPYHORSE_S3_BUCKET)")
        storage = S3Storage(settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=settings.s3_endpoint_url,
                            region=settings.s3_region)
        storage.check_bucket()
        return storage
    raise ValueError(f"unknown storage {settings.storage!r}: expected local or s3")
