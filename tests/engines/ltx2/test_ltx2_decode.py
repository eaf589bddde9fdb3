"""The chunked video decode: the windows, equality with the one-shot decode, bounded memory, cancellation."""

from __future__ import annotations

import numpy as np
import pytest

from happyhorse.engines import GenerationSpec, JobCancelled, NullContext, load_engine
from happyhorse.engines.ltx2.decode import ChunkedVideoDecoder, decode_windows
from happyhorse.engines.ltx2.stages import run_stages

from .conftest import TINY_OPTIONS, build_tiny_pipeline, need_diffusion

# The tiny VAE's decoder reaches 7 latent frames each way (measured: 6 leaves a difference, 7 none).
TINY_RECEPTIVE_FIELD = 7


@pytest.mark.parametrize(("frames", "chunk", "context"), [(1, 4, 2), (10, 2, 1), (13, 4, 2), (16, 8, 2), (46, 8, 0)])
def test_the_windows_keep_every_frame_once_each_seen_with_its_context(frames, chunk, context):
    windows = decode_windows(frames, chunk, context)
    covered = []
    for window in windows:
        # What decoding latents [start, stop) yields: frames 8 * start .. 8 * (stop - 1).
        produced = list(range(8 * window.start, 8 * (window.stop - 1) + 1))
        kept = produced[window.keep_from:window.keep_to]
        assert window.stop - window.start <= chunk + 1 + 2 * context
        assert len(kept) <= 8 * chunk
        covered += kept
        # A kept frame sees `context` latent frames (8 video frames each) past it, or the clip's end.
        assert kept[0] - produced[0] >= 8 * context or window.start == 0
        assert produced[-1] - kept[-1] >= 8 * context or window.stop == frames
    assert covered == list(range(8 * (frames - 1) + 1))


@pytest.fixture(scope="module")
def tiny_pipe():
    need_diffusion()
    return build_tiny_pipeline()


def one_shot(pipe, latents) -> np.ndarray:
    """The pipelines' own decode of the whole clip (``vae.decode`` + ``postprocess_video``), as uint8."""
    import torch

    with torch.inference_mode():
        video = pipe.vae.decode(latents, None, return_dict=False)[0]
        frames = pipe.video_processor.postprocess_video(video, output_type="np")[0]
    return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def chunked(pipe, latents, chunk: int, context: int) -> np.ndarray:
    decoder = ChunkedVideoDecoder(pipe.vae, pipe.video_processor, chunk=chunk, context=context)
    return np.stack(list(decoder.frames(latents, NullContext())))


def test_chunked_decode_equals_the_one_shot_decode_once_context_covers_the_decoder(tiny_pipe):
    import torch

    latents = torch.randn(1, 4, 13, 2, 3, generator=torch.Generator().manual_seed(0))
    whole = one_shot(tiny_pipe, latents)
    assert whole.shape == (97, 64, 96, 3)
    for chunk in (1, 3, 8):
        exact = chunked(tiny_pipe, latents, chunk, TINY_RECEPTIVE_FIELD)
        assert exact.shape == whole.shape and np.abs(exact.astype(int) - whole).max() <= 1
    # Less context than the decoder reaches changes frames near the chunk edges (random weights are
    # far from smooth), which is what the context is for.
    assert np.abs(chunked(tiny_pipe, latents, 3, 0).astype(int) - whole).max() > 8


def spec(num_frames: int = 48, **overrides) -> GenerationSpec:
    values = dict(mode="t2v", prompt="a red kite over the dunes", width=64, height=64, num_frames=num_frames, seed=3)
    return GenerationSpec(**{**values, **overrides})


@pytest.fixture(scope="module")
def exact_engine(tiny_weights):
    return load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS, "decode_chunk": 2,
                                "decode_context": TINY_RECEPTIVE_FIELD})


def test_the_engine_gives_the_stock_pipeline_frames(exact_engine):
    import torch

    the_spec = spec(images=(np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8),), mode="i2v")
    frames = np.stack(list(exact_engine.generate(the_spec, NullContext()).frames))
    shape, stages = exact_engine.plan_stages(the_spec)
    with torch.inference_mode():
        stock, _ = run_stages(stages, generator=torch.Generator().manual_seed(the_spec.seed), output_type="np")
    from happyhorse.engines.ltx2.shapes import fitted_frames

    expected = np.stack(list(fitted_frames(stock[0], shape)))
    assert frames.shape == expected.shape == (48, 64, 64, 3)
    assert np.abs(frames.astype(int) - expected).max() <= 1


class Pull:
    """Pulls a clip's frames one at a time and notes, at each VAE decode, how many it had taken."""

    def __init__(self, monkeypatch) -> None:
        from diffusers import AutoencoderKLLTX2Video

        self.taken, self.decodes = 0, []
        decode = AutoencoderKLLTX2Video.decode

        def noting(vae, latents, *args, **kwargs):
            output = decode(vae, latents, *args, **kwargs)
            self.decodes.append((self.taken, output[0].shape[2]))
            return output

        monkeypatch.setattr(AutoencoderKLLTX2Video, "decode", noting)

    def frames_held_at_once(self, clip) -> tuple[int, int]:
        """(most frames decoded but not yet taken, most frames one decode made) while pulling ``clip``."""
        self.taken, self.decodes = 0, []
        for _ in clip.frames:
            self.taken += 1
        marks = [taken for taken, _ in self.decodes] + [self.taken]
        return max(b - a for a, b in zip(marks, marks[1:])), max(made for _, made in self.decodes)


def test_frames_held_at_once_are_bounded_by_the_chunk_whatever_the_clip_length(exact_engine, monkeypatch):
    pull = Pull(monkeypatch)
    short = pull.frames_held_at_once(exact_engine.generate(spec(num_frames=24), NullContext()))
    long = pull.frames_held_at_once(exact_engine.generate(spec(num_frames=240), NullContext()))
    # Two latent frames (16 video frames) are kept per chunk; a window decodes them with its context.
    assert short[0] <= 16 and long[0] <= 16
    assert long[1] <= 8 * (2 + 1 + 2 * TINY_RECEPTIVE_FIELD - 1) + 1
    assert short[1] <= long[1] < 240  # never the whole 10 s clip at once


def test_a_cancel_seen_between_chunks_stops_the_decode(exact_engine, monkeypatch):
    class CancelLater(NullContext):
        def __init__(self) -> None:
            super().__init__()
            self.cancel = False

        def cancelled(self) -> bool:
            return self.cancel

    pull, ctx = Pull(monkeypatch), CancelLater()
    frames = iter(exact_engine.generate(spec(num_frames=96), ctx).frames)
    first = next(frames)
    assert first.shape == (64, 64, 3) and len(pull.decodes) == 1
    ctx.cancel = True
    with pytest.raises(JobCancelled):
        for _ in frames:
            pass
    assert len(pull.decodes) == 1  # the chunk under way was handed out; no further chunk was decoded
