"""A ``happyhorse worker`` process with a cheap stub engine, for the chaos tests.

Run as a script (``python stub_worker.py --data-dir D --database-url U``). It
builds the same :class:`~happyhorse.runtime.Runtime` and
:class:`~happyhorse.worker.Worker` as ``happyhorse worker`` and installs the
same SIGTERM handling; only the engine differs, so the product carries no
test-only engine while the tests still kill real worker processes.

The engine works like a diffusion model on a GPU, so the worker pipelines
(the next job generates while the last is encoded and stored): it sleeps
``--job-seconds`` per job inside ``generate``, in steps with progress and a
cancel check after each, then returns small 64x64 frames all at once (the
encoder takes its size from the frames). A job takes a predictable fraction
of a second and can be killed half way. Prompt markers drive faults:
``poison`` ends the process at once (``os._exit``), as a segfaulting engine
or an OOM kill would.

Webhooks go out from the worker's own delivery loop as in the product, with a
fast retry step (``--webhook-retry-seconds``) and loopback receivers allowed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from happyhorse.cli.server import _configure_logging, _install_shutdown
from happyhorse.engines import SAMPLE_RATE, Clip, EngineContext, GenerationSpec, JobCancelled
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.webhooks import RetryPolicy
from happyhorse.worker import Worker

POISON_EXIT_CODE = 70
STEPS = 10


class ChaosStubEngine:
    """Takes ``job_seconds`` per job, renders nothing, and crashes on ``poison``."""

    name = "stub"
    description = "chaos-test stub engine"
    pipelined = True

    def __init__(self, job_seconds: float) -> None:
        self.job_seconds = job_seconds

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip:
        if "poison" in spec.prompt:
            # Like a segfault: no exception, no cleanup, no final write.
            os._exit(POISON_EXIT_CODE)
        for step in range(STEPS):
            if ctx.cancelled():
                raise JobCancelled()
            time.sleep(self.job_seconds / STEPS)
            ctx.report_progress((step + 1) / STEPS)
        audio = np.zeros((2, round(spec.num_frames * SAMPLE_RATE / spec.fps)), dtype=np.float32)
        frames = np.zeros((spec.num_frames, 64, 64, 3), dtype=np.uint8)
        return Clip(frames=frames, fps=spec.fps, audio=audio, sample_rate=SAMPLE_RATE, num_frames=spec.num_frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--job-seconds", type=float, default=0.3)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--webhook-retry-seconds", type=float, default=0.2,
                        help="the webhook retry step (the product's is 5 s); loopback receivers are allowed")
    parser.add_argument("--webhook-timeout", type=float, default=3.0, help="one delivery attempt's budget")
    args = parser.parse_args()

    _configure_logging()
    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, signing_secret="chaos",
                        engine="stub", lease_seconds=args.lease, heartbeat_seconds=args.heartbeat,
                        max_attempts=args.max_attempts, allow_private_fetch=True)
    # The test migrated the database before starting any worker: racing
    # migrations from several processes would test Alembic, not the queue.
    webhooks = RetryPolicy(base_seconds=args.webhook_retry_seconds, max_delay_seconds=4 * args.webhook_retry_seconds,
                           timeout_seconds=args.webhook_timeout, lease_seconds=args.webhook_timeout + 2)
    worker = Worker(Runtime.open(settings, migrate=False), ChaosStubEngine(args.job_seconds),
                    worker_id=args.worker_id, webhook_policy=webhooks)
    _install_shutdown(worker, args.grace)
    worker.run()


if __name__ == "__main__":
    main()
