"""The preview engine: shapes, determinism, what each mode shows, A/V sync, streaming."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from happyhorse.engines import (
    SAMPLE_RATE,
    Engine,
    GenerationSpec,
    JobCancelled,
    NullContext,
    load_engine,
)
from happyhorse.engines.preview.engine import PreviewEngine

WIDTH, HEIGHT = 256, 144
FRAME_SECONDS = 1 / 24
# Flat, saturated colours no backdrop or shape of the engine ever draws exactly.
REFERENCE_COLORS = [
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255),
    (0, 255, 255), (255, 128, 0), (128, 0, 255), (0, 128, 64),
]  # fmt: skip


def make_spec(
    mode: str = "t2v",
    prompt: str = "a red fox running through a snowy forest at night",
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    num_frames: int = 24,
    seed: int = 1,
    images: tuple[np.ndarray, ...] = (),
    fps: int = 24,
) -> GenerationSpec:
    return GenerationSpec(
        mode=mode, prompt=prompt, width=width, height=height, num_frames=num_frames, seed=seed, images=images, fps=fps
    )  # type: ignore[arg-type]


def render(spec: GenerationSpec) -> tuple[np.ndarray, np.ndarray]:
    clip = PreviewEngine().generate(spec, NullContext())
    return np.stack(list(clip.frames)), clip.audio


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, colourful stand-in for a photo, with one hard-edged box so motion shows."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    image = np.array(small.resize((width, height), Image.Resampling.BICUBIC))
    image[height // 3 : height // 2, width // 3 : width // 2] = (250, 250, 250)
    return image


def flat_references(count: int) -> tuple[np.ndarray, ...]:
    """References of flat colours and varied shapes (portrait, landscape, square)."""
    shapes = [(400, 300), (300, 400), (350, 350)]
    return tuple(np.full((*shapes[i % 3], 3), REFERENCE_COLORS[i], np.uint8) for i in range(count))


def color_area(frames: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """Per frame, how many pixels are within a few levels of ``color``."""
    close = np.abs(frames.astype(np.int16) - np.array(color, np.int16)).max(axis=-1) <= 12
    return close.sum(axis=(1, 2))


def visual_events(frames: np.ndarray) -> list[int]:
    """Frames where the picture jumps: a local peak of the frame difference, well above the rest."""
    diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    diffs = np.concatenate([[0.0], diffs, [0.0]])  # diffs[i] compares frame i with frame i - 1
    threshold = max(12.0, 4 * float(np.median(diffs)))
    return [
        i
        for i in range(1, len(frames))
        if diffs[i] > threshold and diffs[i] >= diffs[i - 1] and diffs[i] >= diffs[i + 1]
    ]


def audio_onsets(audio: np.ndarray) -> np.ndarray:
    """Onset times (s): 5 ms windows whose energy jumps well above the 10-40 ms before them."""
    hop = SAMPLE_RATE // 200
    mono = audio.mean(axis=0)
    usable = len(mono) // hop * hop
    envelope = np.sqrt((mono[:usable].reshape(-1, hop) ** 2).mean(axis=1))
    onsets = [
        h * hop / SAMPLE_RATE
        for h in range(8, len(envelope))
        if envelope[h] > 3 * envelope[h - 8 : h - 2].mean() + 1e-3
    ]
    return np.array(onsets)


class CancelAfter:
    """A context that turns cancelled after ``checks`` calls to ``cancelled()``."""

    def __init__(self, checks: int) -> None:
        self.log = NullContext().log
        self.checks = checks
        self.progress: list[float] = []

    def report_progress(self, fraction: float) -> None:
        self.progress.append(fraction)

    def cancelled(self) -> bool:
        self.checks -= 1
        return self.checks < 0


def test_load_engine_builds_an_honest_preview_engine() -> None:
    engine = load_engine("preview")
    assert isinstance(engine, PreviewEngine)
    assert isinstance(engine, Engine)
    assert engine.name == "preview"
    assert "no neural network" in engine.description


@pytest.mark.parametrize(("mode", "references"), [("t2v", 0), ("i2v", 1), ("r2v", 1), ("r2v", 9)])
@pytest.mark.parametrize(("width", "height", "num_frames", "fps"), [(256, 144, 30, 24), (98, 174, 7, 30)])
def test_clip_has_the_exact_shape(
    mode: str, references: int, width: int, height: int, num_frames: int, fps: int
) -> None:
    images = (photo(480, 640),) if mode == "i2v" else flat_references(references)
    spec = make_spec(
        mode, "character1 on a hill", width=width, height=height, num_frames=num_frames, images=images, fps=fps
    )
    clip = PreviewEngine().generate(spec, NullContext())

    assert iter(clip.frames) is clip.frames  # a stream, not an array
    frames = list(clip.frames)
    assert len(frames) == clip.num_frames == num_frames
    for frame in frames:
        assert frame.shape == (height, width, 3)
        assert frame.dtype == np.uint8 and frame.flags.c_contiguous
    assert clip.fps == fps and clip.sample_rate == SAMPLE_RATE
    assert clip.audio.dtype == np.float32
    assert clip.audio.shape == (2, round(num_frames / fps * SAMPLE_RATE))
    assert 0.05 < np.abs(clip.audio).max() < 0.9


@pytest.mark.parametrize("mode", ["t2v", "i2v", "r2v"])
def test_same_spec_gives_identical_bytes(mode: str) -> None:
    images = {"t2v": (), "i2v": (photo(300, 400),), "r2v": flat_references(3)}[mode]
    spec = make_spec(mode, num_frames=60, images=images)
    frames_a, audio_a = render(spec)
    frames_b, audio_b = render(spec)
    assert frames_a.tobytes() == frames_b.tobytes()
    assert audio_a.tobytes() == audio_b.tobytes()


def test_another_seed_gives_another_clip() -> None:
    frames_a, audio_a = render(make_spec(seed=1, num_frames=48))
    frames_b, audio_b = render(make_spec(seed=2, num_frames=48))
    assert np.abs(frames_a.astype(np.int16) - frames_b).mean() > 10
    assert not np.array_equal(audio_a, audio_b)


def test_another_prompt_gives_another_clip() -> None:
    frames_a, _ = render(make_spec(prompt="a red fox in the snow"))
    frames_b, _ = render(make_spec(prompt="blue jellyfish drifting in a dark ocean"))
    assert np.abs(frames_a.astype(np.int16) - frames_b).mean() > 10


def test_another_seed_moves_the_i2v_camera_differently() -> None:
    source = (photo(480, 640),)
    frames_a, _ = render(make_spec("i2v", seed=1, num_frames=48, images=source))
    frames_b, _ = render(make_spec("i2v", seed=2, num_frames=48, images=source))
    assert np.array_equal(frames_a[0], frames_b[0])
    assert np.abs(frames_a[-1].astype(np.int16) - frames_b[-1]).mean() > 2


@pytest.mark.parametrize(
    ("source_shape", "frame_size"),
    [((480, 640), (256, 144)), ((640, 400), (144, 256)), ((300, 750), (144, 256)), ((900, 400), (200, 200))],
)
def test_i2v_first_frame_is_the_source_covering_the_frame(
    source_shape: tuple[int, int], frame_size: tuple[int, int]
) -> None:
    source = photo(*source_shape)
    width, height = frame_size
    frames, _ = render(make_spec("i2v", width=width, height=height, num_frames=48, images=(source,)))
    expected = np.asarray(ImageOps.fit(Image.fromarray(source), frame_size, Image.Resampling.LANCZOS))
    assert np.abs(frames[0].astype(np.int16) - expected).mean() < 2
    assert np.abs(frames[-1].astype(np.int16) - frames[0]).mean() > 2  # the camera moved
    steps = np.abs(np.diff(frames[:20].astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert steps.max() < 8  # and moved smoothly, not in jumps


def test_i2v_accepts_grey_and_rgba_sources() -> None:
    grey = photo(300, 400)[:, :, 0]
    rgba = np.dstack([photo(300, 400), np.full((300, 400), 255, np.uint8)])
    for source in (grey, rgba):
        frames, _ = render(make_spec("i2v", num_frames=3, images=(source,)))
        assert frames.shape == (3, HEIGHT, WIDTH, 3)


@pytest.mark.parametrize("count", [1, 4, 9])
def test_r2v_shows_every_reference(count: int) -> None:
    frames, _ = render(make_spec("r2v", "a parade on a sunny street", num_frames=72, images=flat_references(count)))
    for color in REFERENCE_COLORS[:count]:
        assert color_area(frames, color).max() > 40, f"reference {color} never appears"


def test_r2v_features_the_named_character() -> None:
    references = flat_references(5)
    frames, _ = render(make_spec("r2v", "character3 dances on a beach at sunset", num_frames=96, images=references))
    areas = [int(color_area(frames, color).sum()) for color in REFERENCE_COLORS[:5]]
    named = areas[2]
    assert all(named > 3 * area for i, area in enumerate(areas) if i != 2), areas
    assert all(area > 0 for area in areas)


@pytest.mark.parametrize("mode", ["t2v", "i2v", "r2v"])
def test_every_visual_event_has_an_audio_onset_within_a_frame(mode: str) -> None:
    images = {"t2v": (), "i2v": (photo(480, 640),), "r2v": flat_references(4)}[mode]
    spec = make_spec(mode, "fireworks over a city at night", num_frames=168, images=images, seed=5)
    frames, audio = render(spec)

    events = visual_events(frames)
    assert events, "the clip should have cuts or flashes"
    assert events == list(PreviewEngine().plan(spec).big_events)
    onsets = audio_onsets(audio)
    assert 0 < len(onsets) < 0.2 * len(audio[0]) / (SAMPLE_RATE // 200)  # onsets are events, not noise
    for frame in events:
        nearest = np.abs(onsets - frame / spec.fps).min()
        assert nearest <= FRAME_SECONDS, f"no audio onset near visual event at frame {frame}"


def test_frames_are_drawn_only_as_they_are_consumed() -> None:
    ctx = NullContext()
    clip = PreviewEngine().generate(make_spec(num_frames=30), ctx)
    assert ctx.progress == []
    next(iter(clip.frames))
    assert len(ctx.progress) == 1


def test_progress_rises_to_one() -> None:
    ctx = NullContext()
    clip = PreviewEngine().generate(make_spec(num_frames=30), ctx)
    for _ in clip.frames:
        pass
    assert len(ctx.progress) == 30
    assert ctx.progress == sorted(ctx.progress)
    assert ctx.progress[-1] == pytest.approx(1.0)


def test_cancelling_stops_the_stream() -> None:
    ctx = CancelAfter(checks=6)  # one check in generate, then one per frame
    clip = PreviewEngine().generate(make_spec(num_frames=30), ctx)
    produced = []
    with pytest.raises(JobCancelled):
        for frame in clip.frames:
            produced.append(frame)
    assert len(produced) == 5
    assert ctx.progress == sorted(ctx.progress)


def test_an_already_cancelled_job_does_no_work() -> None:
    with pytest.raises(JobCancelled):
        PreviewEngine().generate(make_spec(), CancelAfter(checks=0))


@pytest.mark.parametrize(
    ("mode", "images"),
    [
        ("t2v", (photo(300, 300),)),
        ("i2v", ()),
        ("i2v", (photo(300, 300),) * 2),
        ("r2v", ()),
        ("r2v", flat_references(9) * 2),
    ],
)
def test_impossible_specs_are_refused(mode: str, images: tuple[np.ndarray, ...]) -> None:
    with pytest.raises(ValueError):
        PreviewEngine().generate(make_spec(mode, images=images), NullContext())


def test_renders_720p_fast() -> None:
    spec = make_spec(width=1280, height=720, num_frames=48)
    clip = PreviewEngine().generate(spec, NullContext())
    started = time.perf_counter()
    count = sum(1 for frame in clip.frames if frame.shape == (720, 1280, 3))
    per_frame = (time.perf_counter() - started) / count
    assert count == 48
    # The budget is ~6 ms; this only catches a slow path (a per-pixel loop), not a busy machine.
    assert per_frame < 0.04
