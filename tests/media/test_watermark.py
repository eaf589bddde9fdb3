"""The watermark: where it goes, what it changes, and that it survives encoding."""

from __future__ import annotations

import numpy as np
import pytest

from happyhorse.engines.base import Clip
from happyhorse.media.encode import encode_clip
from happyhorse.media.probe import read_frames
from happyhorse.rules import RULES
from happyhorse.media.watermark import Watermark, watermark_box


def outside(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.ones(frame.shape[:2], bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = False
    return frame[mask]


@pytest.mark.parametrize(("width", "height"), sorted(set(RULES.frame_sizes.values())))
def test_box_sits_bottom_right_with_text_about_4_percent_high(width, height) -> None:
    x0, y0, x1, y1 = watermark_box(width, height)
    short = min(width, height)
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert x0 > width / 2 and y0 > height * 0.8
    # The ink (where the blend is strongest) is ~4% of the short side high, ~2.5% in.
    frame = np.zeros((height, width, 3), np.uint8)
    Watermark(width, height).apply(frame)
    rows, cols = np.nonzero(frame[..., 0] > 128)
    assert rows.max() - rows.min() + 1 == pytest.approx(0.04 * short, rel=0.25)
    assert height - 1 - rows.max() == pytest.approx(0.025 * short, rel=0.3)
    assert width - 1 - cols.max() == pytest.approx(0.025 * short, rel=0.3)


def test_apply_changes_only_the_box_and_draws_white_text_with_a_dark_shadow() -> None:
    width, height = 1280, 720
    box = watermark_box(width, height)
    grey = np.full((height, width, 3), 128, np.uint8)
    frame = grey.copy()
    Watermark(width, height).apply(frame)
    assert np.array_equal(outside(frame, box), outside(grey, box))
    x0, y0, x1, y1 = box
    inside = frame[y0:y1, x0:x1].astype(int)
    assert inside.max() >= 220  # text: white at 85% opacity over grey
    assert inside.min() <= 80  # shadow: darker than the background
    assert inside.max() < 255  # never fully opaque


def test_apply_refuses_a_frame_of_another_size() -> None:
    with pytest.raises(ValueError):
        Watermark(1280, 720).apply(np.zeros((1080, 1920, 3), np.uint8))


def test_tiny_frames_get_a_box_inside_the_frame() -> None:
    x0, y0, x1, y1 = watermark_box(32, 32)
    assert 0 <= x0 < x1 <= 32 and 0 <= y0 < y1 <= 32
    Watermark(32, 32).apply(np.zeros((32, 32, 3), np.uint8))


def test_encoded_watermark_is_in_the_box_only_when_asked(make_clip, tmp_path) -> None:
    width, height = 1280, 720
    clip = make_clip(width, height, 0.5, as_array=True)
    decoded = {}
    for flag in (False, True):
        video = tmp_path / f"{flag}.mp4"
        encode_clip(
            Clip(clip.frames, 24, clip.audio, 48_000, clip.num_frames),
            video, tmp_path / f"{flag}.jpg", watermark=flag,
        )
        decoded[flag] = list(read_frames(video))
    x0, y0, x1, y1 = watermark_box(width, height)
    # Compare away from the box's edge: the codec smears changes by a block or so.
    near = (x0 - 16, y0 - 16, x1 + 16, y1 + 16)
    for plain, marked in zip(decoded[False], decoded[True], strict=True):
        diff = np.abs(plain.astype(int) - marked.astype(int))
        assert diff[y0:y1, x0:x1].mean() > 10
        assert outside(diff, near).mean() < 0.5
