"""The ltx2 engine on its own: seeds, progress, cancellation, options and loading, on tiny weights."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from happyhorse.engines import GenerationSpec, JobCancelled, NullContext, load_engine

from .conftest import TINY_OPTIONS, need_diffusion


def spec(mode: str = "t2v", seed: int = 5, images: tuple = (), **overrides) -> GenerationSpec:
    # A small output: the engine generates at the same valid size whatever the output,
    # and fitting small frames keeps these tests quick (the service tests encode 720p).
    values = dict(mode=mode, prompt="a red kite over the dunes", width=256, height=144, num_frames=72, seed=seed,
                  images=images)
    return GenerationSpec(**{**values, **overrides})


def render(engine, the_spec: GenerationSpec, ctx=None):
    clip = engine.generate(the_spec, ctx or NullContext())
    return np.stack(list(clip.frames)), clip


class CancelAfter:
    """A context whose job is cancelled once ``steps`` progress reports came in."""

    def __init__(self, steps: int) -> None:
        self.log = logging.getLogger("test")
        self.progress: list[float] = []
        self.steps = steps

    def report_progress(self, fraction: float) -> None:
        self.progress.append(fraction)

    def cancelled(self) -> bool:
        return len(self.progress) >= self.steps


def test_exact_size_frame_count_and_audio_length(tiny_engine):
    frames, clip = render(tiny_engine, spec(num_frames=120, width=1280, height=720))
    assert frames.shape == (120, 720, 1280, 3) and frames.dtype == np.uint8
    assert clip.fps == 24 and clip.num_frames == 120
    assert clip.sample_rate == 16000  # the tiny vocoder's; the encoder resamples to 48 kHz
    assert clip.audio.dtype == np.float32 and clip.audio.shape == (2, 5 * 16000)


def test_same_seed_same_clip_other_seed_other_clip(tiny_engine):
    first, first_clip = render(tiny_engine, spec(seed=11))
    again, again_clip = render(tiny_engine, spec(seed=11))
    other, _ = render(tiny_engine, spec(seed=12))
    assert np.array_equal(first, again) and np.array_equal(first_clip.audio, again_clip.audio)
    assert not np.array_equal(first, other)


def test_progress_rises_step_by_step(tiny_weights):
    engine = load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "steps": 4})
    ctx = NullContext()
    render(engine, spec(), ctx)
    assert ctx.progress[:4] == pytest.approx([0.225, 0.45, 0.675, 0.9])  # one report per denoising step
    assert all(b > a for a, b in zip(ctx.progress, ctx.progress[1:]))
    assert ctx.progress[-1] == pytest.approx(1.0)


def test_cancel_stops_at_the_next_step_and_decodes_nothing(tiny_weights, monkeypatch):
    need_diffusion()
    from diffusers import AutoencoderKLLTX2Video

    decode, decodes = AutoencoderKLLTX2Video.decode, []
    monkeypatch.setattr(AutoencoderKLLTX2Video, "decode", lambda self, *a, **k: decodes.append(1) or decode(self, *a, **k))
    engine = load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "steps": 10})
    ctx = CancelAfter(3)
    with pytest.raises(JobCancelled):
        engine.generate(spec(), ctx)
    assert len(ctx.progress) == 3 and decodes == []
    # The engine is still good for the next job.
    frames, _ = render(engine, spec())
    assert frames.shape == (72, 144, 256, 3) and len(decodes) >= 1  # a chunk of latent frames per decode


def test_i2v_and_r2v_fit_any_image_and_output(tiny_engine):
    rng = np.random.default_rng(0)
    tall = rng.integers(0, 255, (900, 400, 3), dtype=np.uint8)
    frames, _ = render(tiny_engine, spec("i2v", images=(tall,), width=144, height=256))
    assert frames.shape == (72, 256, 144, 3)
    refs = tuple(rng.integers(0, 255, (300 + 10 * i, 500, 3), dtype=np.uint8) for i in range(9))
    frames, _ = render(tiny_engine, spec("r2v", images=refs, width=200, height=200))
    assert frames.shape == (72, 200, 200, 3)


def test_reference_order_matters(tiny_engine):
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 255, (320, 320, 3), dtype=np.uint8) for _ in range(2))
    ab, _ = render(tiny_engine, spec("r2v", images=(a, b)))
    ba, _ = render(tiny_engine, spec("r2v", images=(b, a)))
    assert not np.array_equal(ab, ba)


def test_guidance_and_step_cache_paths_run(tiny_weights):
    # CFG with the default negative prompt plus STG and modality guidance, and a step cache.
    engine = load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "steps": 4, "guidance": 3.0,
                                  "cache": "taylorseer:2"})
    frames, clip = render(engine, spec())
    assert frames.shape == (72, 144, 256, 3) and np.isfinite(clip.audio).all()


def test_distilled_profile_uses_the_published_schedule(tiny_weights, monkeypatch):
    engine = load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "profile": "distilled", "steps": None})
    calls, t2v = [], engine.pipelines["t2v"]
    original = type(t2v).__call__
    monkeypatch.setattr(type(t2v), "__call__", lambda self, **kw: calls.append(kw) or original(self, **kw))
    render(engine, spec())
    assert calls[0]["num_inference_steps"] == 8 and len(calls[0]["sigmas"]) == 8
    assert calls[0]["guidance_scale"] == 1.0 and calls[0]["stg_scale"] == 0.0
    assert t2v.scheduler.config.use_dynamic_shifting is False  # the sigmas run as published


def test_bad_spec_fails_before_work(tiny_engine):
    with pytest.raises(ValueError, match="i2v takes exactly one image"):
        tiny_engine.generate(spec("i2v"), NullContext())
    too_many = tuple(np.zeros((320, 320, 3), np.uint8) for _ in range(10))
    with pytest.raises(ValueError, match="1 to 9"):
        tiny_engine.generate(spec("r2v", images=too_many), NullContext())


def test_options_are_checked_at_load(tiny_weights):
    with pytest.raises(ValueError, match="unknown ltx2 option"):
        load_engine("ltx2", {"weights": tiny_weights, "stepz": 3})
    with pytest.raises(ValueError, match="needs --weights"):
        load_engine("ltx2", {})
    with pytest.raises(ValueError, match="downloads kernels"):
        load_engine("ltx2", {"weights": tiny_weights, "attention_backend": "flash_hub"})
    with pytest.raises(ValueError, match="cache must be one of"):
        load_engine("ltx2", {"weights": tiny_weights, "cache": "first-block"})
    with pytest.raises(ValueError, match="profile"):
        load_engine("ltx2", {"weights": tiny_weights, "profile": "turbo"})


def test_incomplete_weights_fail_at_load_naming_the_part(tiny_weights, tmp_path):
    broken = tmp_path / "weights"
    shutil.copytree(tiny_weights, broken)
    shutil.rmtree(broken / "vocoder")
    with pytest.raises(ValueError, match="vocoder"):
        load_engine("ltx2", {"weights": broken})
