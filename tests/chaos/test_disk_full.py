"""The output disk fills up: the job fails ``storage_full`` at once, its hold
comes back, no half-stored output is left, and the next job is served.

ENOSPC is injected into ``storage.put_file`` (no tmpfs in CI): the poster
write fails after the video was stored, the worst place for it.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from happyhorse.worker import STORAGE_FULL_CODE, Worker

from .conftest import Chaos
from .stub_worker import ChaosStubEngine


def test_disk_full_fails_the_job_with_storage_full_and_keeps_serving(
    chaos: Chaos, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = chaos.runtime.storage
    real_put_file = storage.put_file

    def full_disk(key: str, src_path: Path, content_type: str):  # type: ignore[no-untyped-def]
        if key.endswith("poster.jpg"):
            raise OSError(errno.ENOSPC, "No space left on device", key)
        return real_put_file(key, src_path, content_type)

    first, second = chaos.submit("horse one"), chaos.submit("horse two")
    worker = Worker(chaos.runtime, ChaosStubEngine(0.05), worker_id="in-process")
    monkeypatch.setattr(storage, "put_file", full_disk)
    lease = chaos.runtime.queue.claim_next(worker.worker_id, lease_seconds=30, engine="stub")
    assert lease is not None and lease.job.id == first.id
    assert worker.run_job(lease) == "failed"

    job = chaos.runtime.queue.get(first.id)
    assert job.status.value == "failed" and job.error_code == STORAGE_FULL_CODE
    assert "space" in (job.error_message or "")
    facts = chaos.ledger()
    assert facts["holds"][first.id] == "released" and first.id not in facts["captures"]
    assert chaos.output_dirs(first.id) == []  # the stored video was removed again

    # Space is back: the same worker serves the next job normally.
    monkeypatch.setattr(storage, "put_file", real_put_file)
    lease = chaos.runtime.queue.claim_next(worker.worker_id, lease_seconds=30, engine="stub")
    assert lease is not None and lease.job.id == second.id
    assert worker.run_job(lease) == "completed"
    facts = chaos.ledger()
    assert facts["holds"][second.id] == "captured" and facts["captures"][second.id] == 1
