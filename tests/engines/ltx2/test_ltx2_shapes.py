"""Valid sizes and lengths for LTX-2, and fitting frames and audio to the SPEC (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from happyhorse.engines.ltx2.options import LTX2Options
from happyhorse.engines.ltx2.shapes import (
    cover_box,
    fit_frame,
    fitted_frames,
    generation_shape,
    nearest_multiple,
    trim_audio,
    valid_num_frames,
)


@pytest.mark.parametrize(("frames", "valid"), [(1, 1), (72, 73), (73, 73), (120, 121), (360, 361), (74, 81)])
def test_valid_num_frames_is_the_shortest_8k_plus_1_that_holds_the_clip(frames, valid):
    assert valid_num_frames(frames) == valid


def test_sizes_round_to_the_nearest_multiple_of_32():
    assert generation_shape(1280, 720, 120) == generation_shape(1280, 720, 120, scale=1.0)
    shape = generation_shape(1280, 720, 120)
    assert (shape.width, shape.height, shape.num_frames) == (1280, 736, 121)
    assert (shape.out_width, shape.out_height, shape.out_frames) == (1280, 720, 120)
    assert (generation_shape(1920, 1080, 72).width, generation_shape(1920, 1080, 72).height) == (1920, 1088)
    assert nearest_multiple(10) == 32 and nearest_multiple(48) == 64 and nearest_multiple(47) == 32
    half = generation_shape(1280, 720, 72, scale=0.5)
    assert (half.width, half.height) == (640, 352)
    with pytest.raises(ValueError):
        generation_shape(1280, 720, 72, scale=0)


def test_frames_are_cropped_to_the_aspect_then_resized():
    assert cover_box(1280, 736, 1280, 720) == (0, 8, 1280, 728)
    assert cover_box(64, 32, 720, 1280) == (23, 0, 41, 32)
    frame = np.zeros((736, 1280, 3), np.float32)
    frame[:8] = 1.0  # the rows the crop drops
    out = fit_frame(frame, 1280, 720)
    assert out.shape == (720, 1280, 3) and out.dtype == np.uint8 and out.max() == 0


def test_fitted_frames_trim_to_the_exact_count():
    shape = generation_shape(64, 64, 10)
    frames = np.random.default_rng(0).random((shape.num_frames, 64, 64, 3), dtype=np.float32)
    out = list(fitted_frames(frames, shape))
    assert len(out) == 10 and np.array_equal(out[0], (frames[0] * 255 + 0.5).astype(np.uint8))


def test_fitted_frames_read_a_stream_no_further_than_they_need():
    shape = generation_shape(64, 64, 10)
    taken = []

    def stream():
        for index in range(shape.num_frames):
            taken.append(index)
            yield np.full((64, 64, 3), index, np.uint8)

    out = list(fitted_frames(stream(), shape))
    assert len(out) == 10 and taken == list(range(10)) and out[-1][0, 0, 0] == 9
    with pytest.raises(ValueError, match="fewer than the 10 needed"):
        list(fitted_frames(iter([np.zeros((64, 64, 3), np.uint8)] * 9), shape))


def test_two_stage_sides_are_multiples_of_64_so_half_of_each_is_valid():
    shape = generation_shape(1920, 1080, 120, two_stage=True)
    assert (shape.width, shape.height, shape.num_frames) == (1920, 1088, 121)
    assert (shape.width // 2, shape.height // 2) == (960, 544)
    assert generation_shape(1080, 1920, 24, two_stage=True).width == 1088
    assert generation_shape(1440, 1080, 24, two_stage=True).width % 64 == 0


def test_audio_is_cut_or_padded_to_the_clip_length():
    audio = np.ones((2, 50_000), np.float32)
    assert trim_audio(audio, 16000, 72, 24).shape == (2, 48_000)
    assert trim_audio(audio[:, :1000], 16000, 72, 24).shape == (2, 48_000)
    assert trim_audio(np.full(100, 3.0), 100, 24, 24).max() == 1.0


def test_profiles_and_defaults(tmp_path):
    full = LTX2Options.parse(tmp_path, {})
    assert (full.num_steps, full.guidance_scale) == (30, 3.0)
    distilled = LTX2Options.parse(tmp_path, {"profile": "distilled"})
    assert (distilled.num_steps, distilled.guidance_scale) == (8, 1.0)
    assert LTX2Options.parse(tmp_path, {"profile": "distilled", "steps": 4, "guidance": 2.0}).num_steps == 4
    with pytest.raises(ValueError, match="dtype"):
        LTX2Options.parse(tmp_path, {"dtype": "int8"})
    with pytest.raises(ValueError, match="ic_lora"):
        LTX2Options.parse(tmp_path, {"ic_lora": tmp_path / "nope.safetensors"})
    assert LTX2Options.parse(tmp_path, {}).two_stage == "auto"
    with pytest.raises(ValueError, match="upsampler"):
        LTX2Options.parse(tmp_path, {"upsampler": tmp_path / "nope"})
    with pytest.raises(ValueError, match="decode_chunk"):
        LTX2Options.parse(tmp_path, {"decode_chunk": 0})


def test_the_family_comes_from_the_transformer_config():
    from happyhorse.engines.ltx2.family import LTX2, LTX2_3, family_of

    assert family_of({"num_layers": 48}) is LTX2
    assert family_of({"gated_attn": True, "cross_attn_mod": True, "use_prompt_embeddings": False}) is LTX2_3
    assert LTX2.call_arguments() == {"use_cross_timestep": False, "spatio_temporal_guidance_blocks": [29]}
    with pytest.raises(ValueError, match="LTX-2 and LTX-2.3 only"):
        family_of({"cross_attn_mod": True, "ff_bias": False})
