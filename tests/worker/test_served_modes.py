"""A worker claims only the modes its engine serves, and registers them (issue 13).

Two workers on one runtime: one whose engine serves t2v and i2v only (as
``magihuman``), one that serves every mode (as ``preview`` and ``ltx2``).
"""

from __future__ import annotations

import base64
import io
import time

import pytest
from PIL import Image

from happyhorse.errors import InvalidRequest
from happyhorse.jobs.status import Status
from happyhorse.worker import Worker

from .conftest import StubEngine, wait_until, worker_running


def _png_uri(size: int = 320) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (30, 140, 90)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


IMAGE = _png_uri()
WINDOW = 60.0


class TextAndImageStub(StubEngine):
    """Serves t2v and i2v, not r2v (what the ``magihuman`` engine declares)."""

    name = "t2v-i2v-stub"
    modes = ("t2v", "i2v")


class EveryModeStub(StubEngine):
    """Declares no modes: every mode of the rules, as ``preview`` and ``ltx2``."""

    name = "every-mode-stub"


def _ended(runtime, job_id: str):  # type: ignore[no-untyped-def]
    job = runtime.queue.get(job_id)
    return job if job.status is not Status.QUEUED and job.status is not Status.RUNNING else None


def test_an_r2v_job_is_left_to_the_worker_that_serves_r2v(runtime, submit) -> None:
    # No worker registered yet: the r2v job queues, as it always did.
    r2v = submit("character1 meets character2", image=[IMAGE, IMAGE])
    assert r2v.request.mode == "r2v" and r2v.status is Status.QUEUED

    narrow = Worker(runtime, TextAndImageStub(slow_frame_seconds=0), worker_id="narrow")
    assert narrow.modes == ("t2v", "i2v")
    with worker_running(narrow):
        wait_until(lambda: runtime.workers.serving(WINDOW).registered)
        assert runtime.workers.serving(WINDOW).modes == ("t2v", "i2v")
        t2v, i2v = submit("a horse"), submit("a horse trots", image=IMAGE)
        for job in (t2v, i2v):
            done = wait_until(lambda job=job: _ended(runtime, job.id))
            assert (done.status, done.worker_id) == (Status.COMPLETED, "narrow")
        time.sleep(0.3)  # a few more idle polls: still not taken
        assert runtime.queue.get(r2v.id).status is Status.QUEUED

        # Now that a worker is registered and none serves r2v, a new r2v job is refused.
        with pytest.raises(InvalidRequest) as refused:
            submit("character1 again", image=[IMAGE, IMAGE])
        assert (refused.value.code, refused.value.param) == ("mode_not_served", "mode")
        assert "t2v, i2v" in refused.value.message and "t2v-i2v-stub" in refused.value.message

        wide = Worker(runtime, EveryModeStub(slow_frame_seconds=0), worker_id="wide")
        with worker_running(wide):
            done = wait_until(lambda: _ended(runtime, r2v.id))
            assert (done.status, done.worker_id, done.engine) == (Status.COMPLETED, "wide", "every-mode-stub")
            assert runtime.workers.serving(WINDOW).modes == ("t2v", "i2v", "r2v")
            again = submit("character1 once more", image=[IMAGE, IMAGE])  # served now: accepted
            done = wait_until(lambda: _ended(runtime, again.id))
            assert (done.status, done.worker_id) == (Status.COMPLETED, "wide")

    assert {spec.mode for spec in narrow.engine.calls} == {"t2v", "i2v"}  # type: ignore[attr-defined]
    # Both stopped cleanly: unregistered, so nothing is refused any more.
    assert not runtime.workers.serving(WINDOW).registered


def test_housekeeping_keeps_a_busy_workers_registration_fresh(runtime) -> None:
    # Refreshed every 0.4 s, as housekeeping's 0.5 s ticks allow: within the window, with margin.
    runtime.settings.worker_seen_seconds = window = 1.2
    worker = Worker(runtime, TextAndImageStub(slow_frame_seconds=0), worker_id="fresh")
    with worker_running(worker):
        wait_until(lambda: runtime.workers.serving(window).registered)
        first = runtime.workers.serving(window).workers[0].last_seen_at
        time.sleep(2.5)  # twice the window: only the heartbeat keeps it registered
        [seen] = runtime.workers.serving(window).workers
        assert seen.worker_id == "fresh" and seen.last_seen_at > first + 1.5
    assert not runtime.workers.serving(60).registered


def test_an_engine_that_declares_an_unknown_mode_is_refused_at_once(runtime) -> None:
    class Confused(StubEngine):
        modes = ("t2v", "v2v")

    with pytest.raises(ValueError, match="v2v"):
        Worker(runtime, Confused())
