"""r2v in a deployment with a magihuman worker: never taken by it, taken by a preview worker (issue 13).

The real tiny magihuman engine and the real preview engine, each in a real
:class:`~happyhorse.worker.Worker`, on one SQLite runtime (one deployment).
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits
from happyhorse.engines import load_engine
from happyhorse.errors import InvalidRequest
from happyhorse.jobs.status import Status
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.submit.request import parse_generation_request
from happyhorse.submit.service import submit_generation
from happyhorse.worker import Worker


def png_uri(size: int = 320) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (30, 140, 90)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@contextmanager
def running(worker: Worker) -> Iterator[None]:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop.set()
        thread.join(30)
        assert not thread.is_alive()


def wait_for(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def deployment(tmp_path) -> Iterator[tuple[Runtime, str]]:
    runtime = Runtime.open(Settings(data_dir=tmp_path / "data", signing_secret="s"))
    account = create_account(runtime.db, "routing")
    grant_credits(runtime.db, account.id, Decimal(100))
    yield runtime, account.id
    runtime.close()


def test_r2v_is_left_by_a_magihuman_worker_and_run_by_a_preview_worker(deployment, magi_engine) -> None:
    runtime, account_id = deployment

    def submit(**body: Any):
        request = parse_generation_request({"duration": 3, "seed": 7, "resolution": "720p", **body})
        return submit_generation(runtime, account_id, request, [])[0]

    # Queued before any worker registered (nothing known, nothing refused).
    image = png_uri()
    r2v = submit(prompt="character1 meets character2", image=[image, image])
    t2v = submit(prompt="a horse on a beach")
    assert r2v.request.mode == "r2v"

    magihuman = Worker(runtime, magi_engine, worker_id="magihuman")
    assert magihuman.modes == ("t2v", "i2v")
    with running(magihuman):
        wait_for(lambda: runtime.queue.get(t2v.id).status is Status.COMPLETED)
        # The magihuman worker is idle now, polling: the r2v job stays queued, untouched.
        time.sleep(1.0)
        left = runtime.queue.get(r2v.id)
        assert (left.status, left.attempt, left.worker_id) == (Status.QUEUED, 0, None)
        # While only magihuman serves the deployment, a new r2v submit is refused, not queued forever.
        with pytest.raises(InvalidRequest) as refused:
            submit(prompt="character1 again", image=[image, image])
        assert refused.value.code == "mode_not_served" and refused.value.param == "mode"

        preview = Worker(runtime, load_engine("preview"), worker_id="preview")
        with running(preview):
            wait_for(lambda: runtime.queue.get(r2v.id).status is Status.COMPLETED)

    done = runtime.queue.get(r2v.id)
    assert (done.engine, done.worker_id) == ("preview", "preview")
    assert runtime.queue.get(t2v.id).engine == "magihuman"
