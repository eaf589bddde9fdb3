"""Fixtures for the worker tests: a real runtime on SQLite, an account, a stub engine.

The stub engine streams small (64x64) frames whatever size the spec asks for:
the encoder takes its size from the frames, so a job encodes in a fraction of
a second. Its prompt drives it: ``explode`` raises inside ``generate``,
``slow`` sleeps :data:`SLOW_FRAME_SECONDS` per frame (unless built with
``slow_frame_seconds=0``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from happyhorse.accounts import create_account
from happyhorse.billing.ledger import grant_credits
from happyhorse.engines import SAMPLE_RATE, Clip, EngineContext, GenerationSpec, JobCancelled
from happyhorse.submit.request import parse_generation_request
from happyhorse.jobs.model import Job
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.submit.service import submit_generation

SLOW_FRAME_SECONDS = 0.02
FRAME = np.zeros((64, 64, 3), dtype=np.uint8)


class StubEngine:
    """A cheap engine that behaves like a real one towards its context."""

    name = "stub"
    description = "test stub"
    constructed = 0

    def __init__(self, *, slow_frame_seconds: float = SLOW_FRAME_SECONDS) -> None:
        type(self).constructed += 1
        self.slow_frame_seconds = slow_frame_seconds
        self.calls: list[GenerationSpec] = []
        self.frames_made = 0
        self.started = threading.Event()

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip:
        self.calls.append(spec)
        if "explode" in spec.prompt:
            raise RuntimeError("stub engine exploded")
        delay = self.slow_frame_seconds if "slow" in spec.prompt else 0.0
        audio = np.zeros((2, round(spec.num_frames * SAMPLE_RATE / spec.fps)), dtype=np.float32)
        return Clip(frames=self._frames(spec.num_frames, delay, ctx), fps=spec.fps, audio=audio,
                    sample_rate=SAMPLE_RATE, num_frames=spec.num_frames)

    def _frames(self, num_frames: int, delay: float, ctx: EngineContext) -> Iterator[np.ndarray]:
        self.started.set()
        for index in range(num_frames):
            if ctx.cancelled():
                raise JobCancelled()
            if delay:
                time.sleep(delay)
            self.frames_made += 1
            ctx.report_progress((index + 1) / num_frames)
            yield FRAME


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", signing_secret="s")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.open(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def account_id(runtime: Runtime) -> str:
    """An account with credit enough for every job a worker test submits (each holds its price)."""
    account = create_account(runtime.db, "worker-tests")
    grant_credits(runtime.db, account.id, Decimal("1000"))
    return account.id


Submit = Callable[..., Job]


@pytest.fixture
def submit(runtime: Runtime, account_id: str) -> Submit:
    """``submit(prompt="a horse", duration=3, **fields) -> Job``: a queued job, committed."""

    def _submit(prompt: str = "a horse", *, duration: int = 3, **fields: Any) -> Job:
        request = parse_generation_request({"prompt": prompt, "duration": duration, "seed": 7, **fields})
        return submit_generation(runtime, account_id, request, [])[0]

    return _submit


def output_files(runtime: Runtime) -> list[Path]:
    """Every file stored under ``outputs/`` (content-type sidecars included)."""
    root = runtime.settings.files_dir / "outputs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def wait_until(predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(interval)
    return value


@contextmanager
def worker_running(worker: Any) -> Iterator[threading.Thread]:
    """``worker.run()`` in a thread for the block; stopped and joined after it (asserted to end)."""
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        worker.stop.set()
        thread.join(10)
    assert not thread.is_alive()


class GpuStubEngine:
    """An engine that works like a diffusion model on a GPU: ``steps`` sleeps inside ``generate``
    (progress and a cancel check after each), then the whole clip at once; ``pipelined``.

    ``log`` records ``(event, job prompt, thread name)`` in order: ``generate`` and ``generated``."""

    name = "stub"
    description = "test stub that holds a GPU"
    pipelined = True

    def __init__(self, *, steps: int = 8, step_seconds: float = 0.05) -> None:
        self.steps, self.step_seconds = steps, step_seconds
        self.log: list[tuple[str, str, str]] = []
        self.generating = 0
        self.most_generating = 0
        self._lock = threading.Lock()

    def record(self, event: str, prompt: str) -> None:
        with self._lock:
            self.log.append((event, prompt, threading.current_thread().name))

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip:
        self.record("generate", spec.prompt)
        with self._lock:
            self.generating += 1
            self.most_generating = max(self.most_generating, self.generating)
        try:
            for step in range(self.steps):
                if ctx.cancelled():
                    raise JobCancelled()
                time.sleep(self.step_seconds)
                ctx.report_progress((step + 1) / self.steps)
        finally:
            with self._lock:
                self.generating -= 1
        self.record("generated", spec.prompt)
        audio = np.zeros((2, round(spec.num_frames * SAMPLE_RATE / spec.fps)), dtype=np.float32)
        frames = np.zeros((spec.num_frames, 64, 64, 3), dtype=np.uint8)
        return Clip(frames=frames, fps=spec.fps, audio=audio, sample_rate=SAMPLE_RATE, num_frames=spec.num_frames)
