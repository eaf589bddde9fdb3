"""What both families' GPU checks share: timing stages from module hooks, peaks, the worker's finish.

A :class:`StageClock` adds up the seconds of the modules hooked with :func:`hook`, each call fenced by the
device's ``synchronize``, on the threads it is switched on in; :func:`generate` and :func:`finish` are one
job as the worker runs it (``engine.generate``, then ``encode_clip`` and ``LocalStorage.put_file`` on the
finisher thread); :class:`Meter` gives the peaks (GPU memory, host RSS) and frees what a family held.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _common import peak_rss_bytes, reset_peak_rss

GIB = 2**30
PROMPT = "a horse gallops along the beach at sunset, waves crashing, seagulls overhead"

def size(module: Any) -> str:
    """Parameters of ``module``: ``22.16B`` at full size, ``0.01M`` for the dry run's toys."""
    count = sum(p.numel() for p in module.parameters())
    return f"{count / 1e9:.2f}B" if count >= 1e8 else f"{count / 1e6:.2f}M"


_ACTIVE = threading.local()  # the StageClock timing runs on this thread, if any


class StageClock:
    """Seconds per stage of one run, from hooks on the pipeline's modules (see :func:`hook`).

    A clock times only the threads it is switched on in (:meth:`on`), so a job being finished on
    another thread while the next one denoises does not blur either job's figures.
    """

    def __init__(self, sync: Any) -> None:
        self.sync = sync
        self.seconds: dict[str, float] = defaultdict(float)
        self.steps: dict[Any, list[float]] = {}  # denoiser calls by key (video tokens, a label), in order seen
        self._started: dict[int, float] = {}

    @contextmanager
    def on(self) -> Any:
        previous = getattr(_ACTIVE, "clock", None)
        _ACTIVE.clock = self
        try:
            yield self
        finally:
            _ACTIVE.clock = previous

    def begin(self, module: Any) -> None:
        self.sync()
        self._started[id(module)] = time.perf_counter()

    def end(self, module: Any, stage: str, tokens: Any) -> None:
        self.sync()
        seconds = time.perf_counter() - self._started.pop(id(module))
        if tokens is None:
            self.seconds[stage] += seconds
        else:
            self.steps.setdefault(tokens, []).append(seconds)

    def module_seconds(self) -> float:
        return sum(self.seconds.values()) + sum(sum(calls) for calls in self.steps.values())


def video_tokens(args: tuple, kwargs: dict) -> int:
    """The video token count of a diffusers transformer call (its ``hidden_states``)."""
    hidden = kwargs.get("hidden_states", args[0] if args else None)
    return int(hidden.shape[1])


def hook(module: Any, stage: str, steps: Callable[[tuple, dict], Any] | str | None = None) -> None:
    """Time ``module``'s calls into the active clock: added to ``stage``'s seconds, or, with ``steps``, kept
    one by one as denoising steps under a key (``steps(args, kwargs)``, e.g. the video tokens, or a label)."""

    def before(mod: Any, args: tuple, kwargs: dict) -> None:
        clock = getattr(_ACTIVE, "clock", None)
        if clock is not None:
            mod._bench_steps = steps(args, kwargs) if callable(steps) else steps
            clock.begin(mod)

    def after(mod: Any, args: tuple, kwargs: dict, output: Any) -> None:
        clock = getattr(_ACTIVE, "clock", None)
        if clock is not None and id(mod) in clock._started:
            clock.end(mod, stage, mod._bench_steps)

    module.register_forward_pre_hook(before, with_kwargs=True)
    module.register_forward_hook(after, with_kwargs=True)


@dataclass
class Run:
    """One measured run: its wall time, where it went, and its peaks."""

    wall: float
    clock: StageClock
    peak_gpu: float | None = None
    peak_rss: float = 0.0
    encode: float | None = None
    store: float | None = None
    mp4_bytes: int = 0


class Meter:
    """Device sync and peak memory for the runs (the GPU's, or no-ops on the CPU dry run)."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch, self.cuda = torch, device.startswith("cuda")

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset(self) -> None:
        self.sync()
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()
        reset_peak_rss()

    def free(self) -> None:
        """Give back what a failed run left cached, so the next case starts as the others did."""
        import gc

        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def release(self) -> str:
        """After a family's models are unreferenced: collect them and give their memory back to the device."""
        self.free()
        if not self.cuda:
            return "collected (CPU)"
        return f"{self.torch.cuda.memory_allocated() / GIB:.1f} GiB still allocated on the GPU"

    def peaks(self, run: Run) -> Run:
        self.sync()
        run.peak_gpu = self.torch.cuda.max_memory_allocated() / GIB if self.cuda else None
        run.peak_rss = peak_rss_bytes() / GIB
        return run


@dataclass
class Check:
    """Everything one case's runs need."""

    engine: Any
    meter: Meter
    storage: Any
    workdir: Path
    jobs: int = 0

    def clock(self) -> StageClock:
        return StageClock(self.meter.sync)


def generate(check: Check, spec: Any, clock: StageClock | None) -> tuple[Any, float]:
    """``engine.generate`` as the worker's GPU thread calls it; the clip's frames may still be streaming."""
    from happyhorse.engines import NullContext

    with clock.on() if clock else nullcontext():
        start = time.perf_counter()
        clip = check.engine.generate(spec, NullContext())
        check.meter.sync()
    return clip, time.perf_counter() - start


def finish(check: Check, clip: Any, clock: StageClock | None) -> Run:
    """Encode and store one clip as the worker's finisher does (MP4 + poster, then ``put_file`` each)."""
    from happyhorse.media.encode import encode_clip

    check.jobs += 1
    job = check.workdir / f"job-{check.jobs}"
    job.mkdir()
    run_clock = clock or StageClock(check.meter.sync)
    with run_clock.on() if clock else nullcontext():
        start = time.perf_counter()
        inside = run_clock.module_seconds()
        encoded = encode_clip(clip, job / "video.mp4", job / "poster.jpg", watermark=False)
        encoded_at = time.perf_counter()
        decode_inside = run_clock.module_seconds() - inside
        key = f"outputs/gpu-check/{job.name}"
        check.storage.put_file(f"{key}/video.mp4", job / "video.mp4", "video/mp4")
        check.storage.put_file(f"{key}/poster.jpg", job / "poster.jpg", "image/jpeg")
    end = time.perf_counter()
    return Run(wall=end - start, clock=run_clock, encode=encoded_at - start - decode_inside,
               store=end - encoded_at, mp4_bytes=encoded.bytes)


def ours_one_job(check: Check, spec: Any) -> Run:
    """One job alone: generate, then finish on the finisher thread, every stage timed."""
    clock = check.clock()
    check.meter.reset()
    clip, generated = generate(check, spec, clock)
    with ThreadPoolExecutor(1, thread_name_prefix="finisher") as finisher:
        done = finisher.submit(finish, check, clip, clock).result()
    run = Run(wall=generated + done.wall, clock=clock, encode=done.encode, store=done.store, mp4_bytes=done.mp4_bytes)
    return check.meter.peaks(run)


def source_image(width: int, height: int) -> np.ndarray:
    """A deterministic RGB picture for i2v (its content does not change the timing)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1).astype(np.uint8)


def memory_line(run: Run) -> str:
    gpu = f"{run.peak_gpu:.1f} GiB" if run.peak_gpu is not None else "n/a (CPU)"
    return f"peak GPU memory {gpu}, peak host RSS {run.peak_rss:.1f} GiB"


def engine_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--option``; the value read as JSON when it is (``8``, ``true``), else as a string."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def quiet_libraries() -> None:
    """diffusers warns at every pipeline built from random bf16 modules; the report is the output here."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
