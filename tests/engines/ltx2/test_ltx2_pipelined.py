"""The threading contract: a clip's frames decode lazily on another thread while the next job generates."""

from __future__ import annotations

import threading
import time

import numpy as np
from happyhorse.engines import GenerationSpec, NullContext, load_engine

from .conftest import TINY_OPTIONS, need_diffusion


def spec(seed: int, num_frames: int = 48) -> GenerationSpec:
    return GenerationSpec(mode="t2v", prompt="waves on a pebble beach", width=64, height=64, num_frames=num_frames,
                          seed=seed)


class Intervals:
    """When the transformer ran and when the VAE decoded, on any thread (each call slowed a little)."""

    def __init__(self, monkeypatch) -> None:
        from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel

        self.denoising: list[tuple[float, float]] = []
        self.decoding: list[tuple[float, float]] = []
        forward, decode = LTX2VideoTransformer3DModel.forward, AutoencoderKLLTX2Video.decode

        def timed(record, call, pause):
            def wrapper(*args, **kwargs):
                start = time.monotonic()
                time.sleep(pause)
                try:
                    return call(*args, **kwargs)
                finally:
                    record.append((start, time.monotonic()))
            return wrapper

        monkeypatch.setattr(LTX2VideoTransformer3DModel, "forward", timed(self.denoising, forward, 0.03))
        monkeypatch.setattr(AutoencoderKLLTX2Video, "decode", timed(self.decoding, decode, 0.01))

    def overlapped(self) -> bool:
        return any(a < d and c < b for a, b in self.denoising for c, d in self.decoding)


def pull_while_the_next_job_generates(engine) -> tuple[np.ndarray, np.ndarray]:
    """Job 1's frames pulled on a thread while job 2 generates; returns them and job 1 pulled alone."""
    alone = np.stack(list(engine.generate(spec(1), NullContext()).frames))
    clip = engine.generate(spec(1), NullContext())
    pulled: list[np.ndarray] = []
    puller = threading.Thread(target=lambda: pulled.extend(clip.frames))
    generating = threading.Thread(target=lambda: list(engine.generate(spec(2, 24), NullContext()).frames))
    generating.start()
    puller.start()
    generating.join(60)
    puller.join(60)
    assert len(pulled) == 48
    return np.stack(pulled), alone


def pulled_after_the_next_generate(engine) -> tuple[np.ndarray, np.ndarray]:
    """Job 1's frames pulled before job 2 runs, and pulled after job 2 has generated."""
    before = np.stack(list(engine.generate(spec(1), NullContext()).frames))
    clip = engine.generate(spec(1), NullContext())
    engine.generate(spec(2, 24), NullContext())
    return np.stack(list(clip.frames)), before


def test_without_offload_a_clip_pulled_after_the_next_generate_is_the_clip_pulled_before(tiny_engine):
    assert tiny_engine.pipelined is True
    after, before = pulled_after_the_next_generate(tiny_engine)
    assert np.array_equal(after, before)


def test_without_offload_decoding_runs_beside_the_next_jobs_denoising(tiny_weights, monkeypatch):
    need_diffusion()
    intervals = Intervals(monkeypatch)
    engine = load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "steps": 6, "decode_chunk": 1})
    pulled, alone = pull_while_the_next_job_generates(engine)
    assert np.array_equal(pulled, alone)
    assert intervals.overlapped()


def test_with_offload_decodes_wait_for_generates_and_give_the_same_frames(tiny_weights, monkeypatch):
    need_diffusion()
    intervals = Intervals(monkeypatch)  # before loading: offload hooks keep the forward they find
    engine = load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "steps": 6, "decode_chunk": 1,
                                  "cpu_offload": "model", "device": "cpu"})
    after, before = pulled_after_the_next_generate(engine)
    assert np.array_equal(after, before)
    intervals.denoising.clear(), intervals.decoding.clear()
    pulled, alone = pull_while_the_next_job_generates(engine)
    assert np.array_equal(pulled, alone) and np.array_equal(pulled, before)
    assert intervals.denoising and intervals.decoding and not intervals.overlapped()
