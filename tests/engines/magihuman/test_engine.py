"""The magihuman engine on tiny random components: exact sizes and lengths, seeds, i2v, SR, progress, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from happyhorse.engines.base import GenerationSpec, JobCancelled, NullContext, engine_modes

from .conftest import need_diffusion


def spec(mode="t2v", width=1280, height=720, seconds=3, seed=7, images=()):
    return GenerationSpec(mode=mode, prompt="a horse walks on the beach at night", width=width, height=height,
                          num_frames=seconds * 24, seed=seed, images=tuple(images))


def run(engine, s, ctx=None):
    clip = engine.generate(s, ctx or NullContext())
    return np.stack(list(clip.frames)), clip


def test_serves_t2v_and_i2v_only(magi_engine):
    assert engine_modes(magi_engine) == ("t2v", "i2v")
    assert magi_engine.name == "magihuman" and magi_engine.pipelined is True
    with pytest.raises(ValueError, match="r2v"):
        magi_engine.generate(spec("r2v", images=[np.zeros((8, 8, 3), np.uint8)]), NullContext())


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (720, 1280), (960, 960), (1088, 832), (832, 1088)])
def test_t2v_exact_output_for_each_aspect(magi_engine, width, height):
    frames, clip = run(magi_engine, spec(width=width, height=height))
    assert frames.shape == (72, height, width, 3) and frames.dtype == np.uint8
    assert clip.fps == 24 and clip.num_frames == 72
    assert clip.audio.dtype == np.float32 and clip.audio.shape == (2, 3 * clip.sample_rate)
    assert clip.sample_rate == 2048 * 25  # the audio VAE's hop at 25 latent frames a second


def test_same_seed_same_clip_other_seed_other_clip(magi_engine):
    a, clip_a = run(magi_engine, spec(seed=11))
    b, clip_b = run(magi_engine, spec(seed=11))
    c, clip_c = run(magi_engine, spec(seed=12))
    assert np.array_equal(a, b) and np.array_equal(clip_a.audio, clip_b.audio)
    assert not np.array_equal(a, c) and not np.array_equal(clip_a.audio, clip_c.audio)


def test_i2v_pins_the_image_latent(magi_engine, monkeypatch):
    from happyhorse.engines.magihuman import engine as engine_module

    image = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    pinned = []
    real = engine_module.MagiHumanEngine._image_latent

    def spy(self, picture, size):
        latent = real(self, picture, size)
        pinned.append((size, latent))
        return latent

    monkeypatch.setattr(engine_module.MagiHumanEngine, "_image_latent", spy)
    frames, clip = run(magi_engine, spec("i2v", width=1088, height=832, images=[image]))
    assert frames.shape == (72, 832, 1088, 3)
    job = magi_engine.plan(spec("i2v", width=1088, height=832, images=[image]))
    assert [size for size, _ in pinned] == [job.base_size, job.sr_size]
    assert pinned[0][1].shape == (1, 4, 1, *job.base_latent)
    t2v, _ = run(magi_engine, spec(width=1088, height=832))
    assert not np.array_equal(frames, t2v)


def test_1080p_runs_the_1080p_sr_stage(magi_engine):
    job = magi_engine.plan(spec(width=1920, height=1080))
    assert job.sr_stage == "1080p" and job.sr_size == (128, 224)  # 1920x1088 at 1/8 of its sides, in 32s
    frames, _ = run(magi_engine, spec(width=1920, height=1080))
    assert frames.shape == (72, 1080, 1920, 3)


def test_progress_per_step_across_both_stages(magi_engine):
    ctx = NullContext()
    clip = magi_engine.generate(spec(), ctx)
    steps = ctx.progress[:4]  # 2 base + 2 SR steps, before any decode
    assert steps == pytest.approx([0.9 * n / 4 for n in range(1, 5)])
    list(clip.frames)
    assert ctx.progress[-1] == pytest.approx(1.0)


def test_cancel_at_a_step_decodes_nothing(magi_engine, monkeypatch):
    from happyhorse.engines.magihuman.vae import AudioVAE, VideoVAE

    decodes = []
    monkeypatch.setattr(VideoVAE, "frames", lambda *a, **k: decodes.append("video"))
    monkeypatch.setattr(AudioVAE, "decode", lambda *a, **k: decodes.append("audio"))

    class CancelAfterOneStep(NullContext):
        def cancelled(self) -> bool:
            return len(self.progress) >= 1

    ctx = CancelAfterOneStep()
    with pytest.raises(JobCancelled):
        magi_engine.generate(spec(), ctx)
    assert len(ctx.progress) == 1 and decodes == []


def test_streamed_decode_equals_one_shot_decode(magi_engine):
    need_diffusion()
    import torch

    vae = magi_engine.video_vae
    latents = torch.randn((1, 4, 3, 4, 8), generator=torch.Generator().manual_seed(0))
    streamed = np.stack(list(vae.frames(latents, chunk=2)))
    whole = vae.vae.decode(latents * vae.std + vae.mean).sample
    expected = ((whole.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)[0].permute(1, 2, 3, 0).numpy()
    assert streamed.shape == (9, 64, 128, 3) and np.array_equal(streamed, expected)


def test_frame_time_mapping_and_lengths():
    from happyhorse.engines.magihuman.shapes import model_frame_index, plan, retimed

    job = plan(1280, 720, 72, 24, sr=True)
    assert (job.base_size, job.sr_size) == ((256, 448), (512, 896))  # the published 256p and 540p SR sizes
    assert plan(1920, 1080, 72, 24, sr=True).sr_size == (1088, 1920)
    assert plan(1280, 720, 72, 24, sr=True, sr_720p="720p").sr_size == (736, 1312)  # 1280x736 area, 16:9
    assert job.model_frames > model_frame_index(71, 24) and job.audio_frames == job.model_frames
    assert plan(1280, 720, 96, 24, sr=True).audio_frames == 4 * 25 + 1  # the reference's A = 25 s + 1
    out = list(retimed(iter(range(job.model_frames)), 72, 24))
    assert out[:3] == [0, 1, 2] and out[-1] == 74 and len(out) == 72


def test_options_are_checked_before_loading(tmp_path):
    from happyhorse.engines import load_engine

    with pytest.raises(ValueError, match="needs --weights"):
        load_engine("magihuman", {})
    with pytest.raises(ValueError, match="unknown magihuman option"):
        load_engine("magihuman", {"weights": tmp_path, "ic_lora": "x"})
    need_diffusion()
    with pytest.raises(ValueError, match="missing"):
        load_engine("magihuman", {"weights": tmp_path})
