"""The parts one process needs, built once from :class:`Settings`.

The API, the worker and the CLI all start from ``Runtime.open(settings)``, so
every process of a deployment sees the same database, storage and signing key.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from happyhorse.db.engine import make_engine
from happyhorse.jobs.queue import JobQueue
from happyhorse.settings import Settings
from happyhorse.storage.base import Storage
from happyhorse.storage.signing import UrlSigner


@dataclass
class Runtime:
    settings: Settings
    db: Engine
    queue: JobQueue
    storage: Storage
    signer: UrlSigner

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        """Connect to the database (upgrading its schema unless ``migrate`` is false)
        and the storage named by ``settings``."""
        from happyhorse.db.migrate import upgrade
        from happyhorse.storage.local import LocalStorage

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_database_url
        if migrate:
            upgrade(url)
        db = make_engine(url)
        return cls(
            settings=settings,
            db=db,
            queue=JobQueue(db),
            storage=LocalStorage(settings.files_dir),
            signer=UrlSigner(settings.resolved_signing_secret()),
        )

    def engine_info(self) -> dict:
        """What ``GET /v1/models`` says about the engine this deployment runs."""
        from happyhorse.engines import ENGINE_INFO

        return ENGINE_INFO.get(self.settings.engine, {"name": self.settings.engine, "description": "", "neural": True})

    def close(self) -> None:
        self.db.dispose()
