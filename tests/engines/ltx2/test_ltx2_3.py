"""LTX-2.3 weights: the three modes, the family's call arguments, the distilled schedule, two-stage 1080p."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from happyhorse.engines import GenerationSpec, NullContext, load_engine
from happyhorse.engines.ltx2.stages import run_stages

from .conftest import TINY_OPTIONS, build_tiny_pipeline, build_tiny_upsampler, need_diffusion

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 255, (90, 160, 3), dtype=np.uint8)
REFERENCES = tuple(RNG.integers(0, 255, (100, 100, 3), dtype=np.uint8) for _ in range(2))
INPUTS = {"t2v": (), "i2v": (IMAGE,), "r2v": REFERENCES}


def spec(mode: str = "t2v", width: int = 128, height: int = 72, num_frames: int = 24, **overrides) -> GenerationSpec:
    return GenerationSpec(mode=mode, prompt="character1 walks past character2", width=width, height=height,
                          num_frames=num_frames, seed=4, images=INPUTS[mode], **overrides)


@pytest.fixture(scope="module")
def engine_2_3(tiny_weights_2_3):
    return load_engine("ltx2", {"weights": tiny_weights_2_3, **TINY_OPTIONS})


@pytest.fixture(scope="module")
def distilled_2_3(tiny_weights_2_3):
    # Decoding with the tiny VAE's whole reach makes the chunked decode exact (see test_ltx2_decode).
    return load_engine("ltx2", {"weights": tiny_weights_2_3, **TINY_OPTIONS, "profile": "distilled", "steps": None,
                                "decode_context": 7})


@pytest.mark.parametrize("mode", ["t2v", "i2v", "r2v"])
def test_each_mode_gives_exact_frames_and_48_khz_audio(engine_2_3, mode):
    clip = engine_2_3.generate(spec(mode), NullContext())
    frames = np.stack(list(clip.frames))
    assert frames.shape == (24, 72, 128, 3) and frames.dtype == np.uint8
    assert clip.sample_rate == 48000 and clip.audio.shape == (2, 48000)  # the vocoder's bandwidth extension


def test_the_family_sets_what_its_calls_differ_in(engine_2_3, tiny_engine):
    assert (engine_2_3.family.name, tiny_engine.family.name) == ("LTX-2.3", "LTX-2")
    _, _, new = engine_2_3.plan(spec())
    _, _, old = tiny_engine.plan(spec())
    assert (new["use_cross_timestep"], new["spatio_temporal_guidance_blocks"]) == (True, [28])
    assert (old["use_cross_timestep"], old["spatio_temporal_guidance_blocks"]) == (False, [29])


def test_the_distilled_profile_runs_the_published_sigmas_as_they_are(distilled_2_3, engine_2_3, monkeypatch):
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

    schedules = []
    set_timesteps = FlowMatchEulerDiscreteScheduler.set_timesteps

    @functools.wraps(set_timesteps)  # the pipeline reads its signature
    def noting(scheduler, *args, **kwargs):
        set_timesteps(scheduler, *args, **kwargs)
        schedules.append(scheduler.sigmas[:-1].tolist())

    monkeypatch.setattr(FlowMatchEulerDiscreteScheduler, "set_timesteps", noting)
    _, pipe, arguments = distilled_2_3.plan(spec())
    assert arguments["num_inference_steps"] == 8 and arguments["guidance_scale"] == 1.0
    distilled_2_3.generate(spec(), NullContext())
    assert schedules[-1] == pytest.approx(DISTILLED_SIGMA_VALUES)
    # The weights' own scheduler would shift them (LTX-2.3's shifts by sequence length, then stretches).
    engine_2_3.pipelines["t2v"].scheduler.set_timesteps(sigmas=DISTILLED_SIGMA_VALUES, mu=1.0)
    assert schedules[-1] != pytest.approx(DISTILLED_SIGMA_VALUES)


def test_1080p_goes_two_stage_and_720p_one(distilled_2_3):
    from diffusers.pipelines.ltx2.utils import STAGE_2_DISTILLED_SIGMA_VALUES

    shape, stages = distilled_2_3.plan_stages(spec(width=1920, height=1080))
    assert [stage.kind for stage in stages] == ["denoise", "upsample", "denoise"]
    first, _, refine = (stage.arguments for stage in stages)
    # 1920x1080 at the tests' 1/20 scale: 96x54, rounded to multiples of 64 for the half-size first stage.
    assert (shape.width, shape.height) == (128, 64)
    assert (first["width"], first["height"], refine["width"], refine["height"]) == (64, 32, 128, 64)
    assert len(first["sigmas"]) == 8 and refine["sigmas"] == STAGE_2_DISTILLED_SIGMA_VALUES
    assert refine["noise_scale"] == STAGE_2_DISTILLED_SIGMA_VALUES[0] and refine["guidance_scale"] == 1.0
    assert stages[2].pipe.scheduler.config.use_dynamic_shifting is False
    _, stages = distilled_2_3.plan_stages(spec(width=1280, height=720))
    assert [stage.kind for stage in stages] == ["denoise"]


@pytest.mark.parametrize("mode", ["t2v", "i2v", "r2v"])
def test_two_stage_gives_the_stock_two_stage_frames(distilled_2_3, mode):
    import torch

    from happyhorse.engines.ltx2.shapes import fitted_frames

    the_spec = spec(mode, width=1920, height=1080, num_frames=9)
    clip = distilled_2_3.generate(the_spec, NullContext())
    frames = np.stack(list(clip.frames))
    assert frames.shape == (9, 1080, 1920, 3) and clip.audio.shape == (2, 9 * 2000)
    # The same calls replayed as a user's script would (what the GPU benchmark times as "stock").
    shape, stages = distilled_2_3.plan_stages(the_spec)
    with torch.inference_mode():
        video, _ = run_stages(stages, generator=torch.Generator().manual_seed(the_spec.seed), output_type="np")
    expected = np.stack(list(fitted_frames(video[0], shape)))
    assert np.abs(frames.astype(int) - expected).max() <= 1


def test_two_stage_is_an_operator_choice(tiny_weights_2_3, tiny_weights):
    off = load_engine("ltx2", {"weights": tiny_weights_2_3, **TINY_OPTIONS, "profile": "distilled",
                               "two_stage": "off"})
    assert len(off.plan_stages(spec(width=1920, height=1080))[1]) == 1
    full = load_engine("ltx2", {"weights": tiny_weights_2_3, **TINY_OPTIONS, "two_stage": "on"})
    assert len(full.plan_stages(spec())[1]) == 3  # on: every job, on any profile
    with pytest.raises(ValueError, match="no latent upsampler"):
        load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "two_stage": "on"})
    with pytest.raises(ValueError, match="two_stage must be"):
        load_engine("ltx2", {"weights": tiny_weights, "two_stage": "sometimes"})


def test_an_upsampler_kept_apart_is_found(tiny_weights, tiny_weights_2_3):
    # A LTX2LatentUpsamplePipeline repository (vae/ and latent_upsampler/), as LTX-2.3's is published.
    engine = load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "profile": "distilled",
                                  "upsampler": tiny_weights_2_3})
    assert len(engine.plan_stages(spec(width=1080, height=1920))[1]) == 3


def test_an_engine_around_built_modules_goes_two_stage_as_one_from_a_directory():
    need_diffusion()
    from happyhorse.engines.ltx2.engine import LTX2Engine

    options = {**TINY_OPTIONS, "profile": "distilled", "steps": None}
    with_upsampler = LTX2Engine.from_pipeline(build_tiny_pipeline("LTX-2.3"), upsampler=build_tiny_upsampler(),
                                              **options)
    shape, stages = with_upsampler.plan_stages(spec(width=1920, height=1080))
    assert [stage.kind for stage in stages] == ["denoise", "upsample", "denoise"]
    frames = list(with_upsampler.generate(spec(width=1920, height=1080, num_frames=9), NullContext()).frames)
    assert len(frames) == 9 and frames[0].shape == (1080, 1920, 3)
    without = LTX2Engine.from_pipeline(build_tiny_pipeline("LTX-2.3"), **options)
    assert len(without.plan_stages(spec(width=1920, height=1080))[1]) == 1
