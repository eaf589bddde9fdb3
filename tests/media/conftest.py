"""Synthetic clips for the media tests: cheap, moving, deterministic."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from happyhorse.engines.base import Clip


def moving_frames(width: int, height: int, num_frames: int) -> Iterator[np.ndarray]:
    """Gradients, a moving square and a little noise; one frame at a time."""
    rng = np.random.default_rng(0)
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    side = max(4, min(width, height) // 6)
    for t in range(num_frames):
        frame = np.empty((height, width, 3), dtype=np.float32)
        frame[..., 0:1] = (x + 3 * t) % 256
        frame[..., 1:2] = y
        frame[..., 2:3] = (x + y) / 2
        left = (t * 11) % max(1, width - side)
        frame[height // 3 : height // 3 + side, left : left + side] = (240, 200, 40)
        frame += rng.normal(0, 2, (height, width, 1)).astype(np.float32)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def sine(freq: float, seconds: float, rate: int, channels: int = 2, level: float = 0.5) -> np.ndarray:
    """float32 ``[channels, samples]`` sine."""
    t = np.arange(round(seconds * rate)) / rate
    return np.repeat((level * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None], channels, axis=0)


ClipFactory = Callable[..., Clip]


@pytest.fixture(name="sine")
def sine_fixture() -> Callable[..., np.ndarray]:
    """The :func:`sine` helper, for test modules (conftest is not importable)."""
    return sine


@pytest.fixture(name="moving_frames")
def moving_frames_fixture() -> Callable[..., Iterator[np.ndarray]]:
    """The :func:`moving_frames` helper."""
    return moving_frames


@pytest.fixture
def make_clip() -> ClipFactory:
    """``make_clip(width, height, seconds, audio=..., sample_rate=..., as_array=False)``."""

    def factory(
        width: int,
        height: int,
        seconds: float,
        *,
        audio: np.ndarray | None = None,
        sample_rate: int = 48_000,
        as_array: bool = False,
        fps: int = 24,
    ) -> Clip:
        num_frames = round(seconds * fps)
        frames = moving_frames(width, height, num_frames)
        if audio is None:
            audio = sine(440, seconds, sample_rate)
        return Clip(
            frames=np.stack(list(frames)) if as_array else frames,
            fps=fps,
            audio=audio,
            sample_rate=sample_rate,
            num_frames=num_frames,
        )

    return factory
