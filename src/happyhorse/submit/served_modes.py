"""Refusing a job that no worker of the deployment would ever take.

A worker claims only the modes its engine serves (``magihuman`` serves t2v and
i2v, not r2v). A job of a mode that none of the recently registered workers
serves would wait queued forever, holding its credit; so submit refuses it
with a 400 ``mode_not_served`` that says which modes are served. With no
worker registered at all (an API started before its workers) nothing is
refused: the job queues for whatever worker comes (see
:mod:`happyhorse.jobs.registry`). Never a silent downgrade to another mode.
"""

from __future__ import annotations

from happyhorse.errors import InvalidRequest
from happyhorse.runtime import Runtime

MODE_NOT_SERVED_CODE = "mode_not_served"


def ensure_mode_served(runtime: Runtime, mode: str) -> None:
    """Raise 400 ``mode_not_served`` (param ``mode``) unless a recently registered worker
    serves ``mode`` (the request's resolved mode), or no worker is registered at all."""
    serving = runtime.workers.serving(runtime.settings.worker_seen_seconds)
    if serving.serves(mode):
        return
    engines = ", ".join(f"{engine['name']} ({', '.join(engine['modes'])})" for engine in serving.engines())
    raise InvalidRequest(
        MODE_NOT_SERVED_CODE,
        f"this request is {mode}, which no engine of this deployment serves: its workers serve only "
        f"{', '.join(serving.modes)} (engines: {engines}); send a {' or '.join(serving.modes)} request "
        f"(set mode, or change the images that decide it), or ask the operator to run a worker whose "
        f"engine serves {mode}",
        "mode",
    )
