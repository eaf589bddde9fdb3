"""The polling path: ``GET /v1/jobs/{id}`` authenticated and read in one query.

Clients poll this endpoint more than all others together, so it skips
SQLAlchemy's statement and result layers and runs one prepared SQL string on a
pooled DBAPI connection: the key's liveness, the job, its queue position, its
captured hold (the ``usage`` of a completed job) and its outputs together. ``None`` means
"take the slow path", which tells a bad key (401) from a missing job (404)
with the usual queries.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from happyhorse.billing.usage import Usage
from happyhorse.db.clock import db_now
from happyhorse.db.schema import jobs as jobs_table
from happyhorse.jobs.model import Job
from happyhorse.jobs.queries import queued_before
from happyhorse.jobs.views import JobView, VideoOutput

_SQL = """
SELECT jobs.*,
       api_keys.id AS hot_key_id,
       api_keys.last_used_at AS hot_key_last_used_at,
       {now} AS hot_db_now,
       holds.billed_seconds AS hot_billed_seconds,
       holds.unit_price AS hot_unit_price,
       holds.amount AS hot_cost,
       video.storage_key AS hot_video_key,
       video.content_type AS hot_video_content_type,
       video.bytes AS hot_video_bytes,
       video.width AS hot_video_width,
       video.height AS hot_video_height,
       video.fps AS hot_video_fps,
       video.duration AS hot_video_duration,
       video.has_audio AS hot_video_has_audio,
       poster.storage_key AS hot_poster_key,
       CASE WHEN jobs.status = 'queued' THEN (
           SELECT count(*) FROM jobs AS ahead WHERE {ahead}
       ) END AS hot_ahead
FROM jobs JOIN api_keys ON api_keys.account_id = jobs.account_id
LEFT JOIN holds ON holds.job_id = jobs.id AND holds.state = 'captured'
LEFT JOIN outputs AS video ON video.job_id = jobs.id AND video.kind = 'video'
LEFT JOIN outputs AS poster ON poster.job_id = jobs.id AND poster.kind = 'poster'
WHERE jobs.id = :job_id AND api_keys.key_hash = :key_hash AND api_keys.revoked_at IS NULL
  AND jobs.deleted_at IS NULL
"""

_OUTPUT_COLUMNS = ("content_type", "bytes", "width", "height", "fps", "duration", "has_audio")
_EXTRA = ("hot_key_id", "hot_key_last_used_at", "hot_db_now", "hot_ahead", "hot_billed_seconds", "hot_unit_price",
          "hot_cost", "hot_video_key", "hot_poster_key", *(f"hot_video_{name}" for name in _OUTPUT_COLUMNS))
_sql_by_dialect: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class PolledJob:
    view: JobView
    """The job with its queue position, usage and outputs."""
    key_id: str
    key_last_used_at: float | None
    db_now: float


def poll_job(engine: Engine, job_id: str, key_hash: str) -> PolledJob | None:
    sql = _sql_for(engine)
    with _polling_connection(engine) as raw:
        cursor = raw.cursor()
        cursor.execute(sql, {"job_id": job_id, "key_hash": key_hash})
        row = cursor.fetchone()
        names = [d[0] for d in cursor.description] if row is not None else []
        cursor.close()
    if row is None:
        return None
    values = dict(zip(names, row, strict=True))
    ahead = values["hot_ahead"]
    view = JobView(
        job=Job.from_row({k: v for k, v in values.items() if k not in _EXTRA}),
        queue_position=None if ahead is None else int(ahead) + 1,
        usage=None if values["hot_cost"] is None else Usage.from_columns(
            values["hot_billed_seconds"], values["hot_unit_price"], values["hot_cost"]
        ),
        outputs=_outputs(values),
    )
    return PolledJob(view, key_id=values["hot_key_id"], key_last_used_at=values["hot_key_last_used_at"],
                     db_now=float(values["hot_db_now"]))


def _outputs(values: dict[str, Any]) -> tuple[VideoOutput, ...]:
    if values["hot_video_key"] is None or values["hot_poster_key"] is None:
        return ()
    video = {name: values[f"hot_video_{name}"] for name in _OUTPUT_COLUMNS}
    video["storage_key"] = values["hot_video_key"]
    return (VideoOutput.from_rows(video, {"storage_key": values["hot_poster_key"]}),)


_per_thread = threading.local()


@contextmanager
def _polling_connection(engine: Engine) -> Iterator[Any]:
    """A pooled DBAPI connection; on SQLite, one kept per thread.

    A SQLite connection in autocommit mode runs each SELECT in its own snapshot
    and holds no lock between queries, so keeping one per thread (the event
    loop's, mostly) is safe and saves the pool's checkout and reset. Over a
    network the pool's bookkeeping is small next to the round trip.

    A connection the server dropped (a restart: "terminating connection due to
    administrator command") is thrown away rather than handed back to the pool,
    whose reset would fail and log a traceback for every poll of the outage;
    the next checkout connects afresh (``pool_pre_ping``)."""
    if engine.dialect.name != "sqlite":
        raw = engine.raw_connection()
        try:
            yield raw
        except Exception as exc:
            if _is_disconnect(engine, raw, exc):
                raw.invalidate(exc)  # also gives it back to the pool, as a slot to reconnect
            else:
                raw.close()
            raise
        else:
            raw.close()  # back to the pool, which rolls back anything left open
        return
    kept: weakref.WeakKeyDictionary[Engine, Any] = getattr(_per_thread, "connections", None) or weakref.WeakKeyDictionary()
    _per_thread.connections = kept
    raw = kept.get(engine)
    if raw is None:
        raw = kept[engine] = engine.raw_connection()
    try:
        yield raw
    except Exception:
        kept.pop(engine, None)
        raw.invalidate()
        raise


def _is_disconnect(engine: Engine, raw: Any, exc: Exception) -> bool:
    dbapi = engine.dialect.loaded_dbapi
    return isinstance(exc, dbapi.Error) and engine.dialect.is_disconnect(exc, raw.dbapi_connection, None)


def _ahead_condition(engine: Engine) -> str:
    """The queued jobs ahead of ``jobs``' row, rendered from the claim order (:func:`queued_before`)."""
    ahead = jobs_table.alias("ahead")
    condition = queued_before(ahead, jobs_table.c.priority, jobs_table.c.created_at, jobs_table.c.id)
    return str(condition.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _sql_for(engine: Engine) -> str:
    dialect = engine.dialect.name
    sql = _sql_by_dialect.get(dialect)
    if sql is None:
        sql = _SQL.format(now=str(db_now(dialect)), ahead=_ahead_condition(engine))
        if engine.dialect.paramstyle in ("pyformat", "format"):
            # psycopg wants %(name)s; the lookbehind leaves PostgreSQL casts (::) alone.
            sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)
        _sql_by_dialect[dialect] = sql
    return sql
