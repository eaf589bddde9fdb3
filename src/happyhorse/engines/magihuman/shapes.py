"""Sizes and lengths: from an output (SPEC §4) to the model's latents, and its frames back to the output's.

Sizes. The model generates at 256p (the reference's 448x256 for 16:9) and the
published SR stages refine at 540p (896x512) and 1080p (1920x1088). For each
output aspect we keep the pixel area of those sizes and the output's aspect,
with sides multiples of 32 (the VAE's 16x stride times the DiT's 2x2 patch):
16:9 gives exactly the published sizes. 720p outputs use the 540p SR DiT
(``sr_720p="540p"``: at its trained size, frames resized up; ``"720p"``: at
1280x736-area latents instead). Frames are centre-cropped to the output's
aspect and resized to its exact size.

Time. The model runs at 25 fps: ``T'`` latent frames decode to
``4 (T' - 1) + 1`` frames, and its audio has one latent frame per video frame
(``A = 4 (T' - 1) + 1``; the reference's ``A = 25 s + 1`` is this relation).
Output frame ``k`` (at ``k / 24`` s) shows the model frame nearest in time,
``round(k * 25 / 24)``: every output frame is a real model frame shown within
half a model frame of its time, and no frames are blended. ``T'`` is the
smallest that covers the last output frame, at most one latent frame more
than the reference's ``(A - 1) // 4 + 1`` for the same seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

MODEL_FPS = 25
TEMPORAL_STRIDE = 4
SIZE_MULTIPLE = 32  # VAE stride 16 x patch 2
VAE_STRIDE = 16

BASE_AREA = 448 * 256
SR_AREAS = {"540p": 896 * 512, "720p": 1280 * 736, "1080p": 1920 * 1088}
# Output areas at or above this are 1080p rows of SPEC §4 (720p rows are at most 1088x832).
FULL_HD_AREA = 1_400_000


@dataclass(frozen=True)
class Plan:
    """What one job generates: pixel sizes of each stage, latent lengths, and the output it is fitted to."""

    out_width: int
    out_height: int
    out_frames: int
    fps: int
    base_size: tuple[int, int]
    """(height, width) in pixels of the base stage."""
    sr_stage: str | None
    """Which SR DiT refines (``540p`` or ``1080p``), or ``None``."""
    sr_size: tuple[int, int] | None
    latent_frames: int
    audio_frames: int

    @property
    def base_latent(self) -> tuple[int, int]:
        return self.base_size[0] // VAE_STRIDE, self.base_size[1] // VAE_STRIDE

    @property
    def sr_latent(self) -> tuple[int, int] | None:
        return None if self.sr_size is None else (self.sr_size[0] // VAE_STRIDE, self.sr_size[1] // VAE_STRIDE)

    @property
    def model_frames(self) -> int:
        return TEMPORAL_STRIDE * (self.latent_frames - 1) + 1


def pixel_size(width: int, height: int, area: float) -> tuple[int, int]:
    """(height, width): ``area`` pixels at the aspect of ``width x height``, sides multiples of 32 (at least 32)."""
    aspect = width / height
    h = max(1, round(math.sqrt(area / aspect) / SIZE_MULTIPLE)) * SIZE_MULTIPLE
    w = max(1, round(aspect * h / SIZE_MULTIPLE)) * SIZE_MULTIPLE
    return h, w


def model_frame_index(k: int, fps: int) -> int:
    """The model frame (25 fps) shown as output frame ``k`` (``fps``): the nearest in time."""
    return int(k * MODEL_FPS / fps + 0.5)


def plan(width: int, height: int, num_frames: int, fps: int, *, sr: bool, scale: float = 1.0,
         sr_720p: str = "540p") -> Plan:
    """The plan for an output of ``width x height``, ``num_frames`` at ``fps``."""
    area_scale = scale * scale
    base = pixel_size(width, height, BASE_AREA * area_scale)
    stage = size = None
    if sr:
        full_hd = width * height >= FULL_HD_AREA
        stage = "1080p" if full_hd else "540p"
        key = "1080p" if full_hd else sr_720p
        size = pixel_size(width, height, SR_AREAS[key] * area_scale)
    needed = model_frame_index(num_frames - 1, fps) + 1
    latent_frames = math.ceil((needed - 1) / TEMPORAL_STRIDE) + 1
    return Plan(out_width=width, out_height=height, out_frames=num_frames, fps=fps, base_size=base,
                sr_stage=stage, sr_size=size, latent_frames=latent_frames,
                audio_frames=TEMPORAL_STRIDE * (latent_frames - 1) + 1)


def retimed(frames: Iterable[np.ndarray], out_frames: int, fps: int) -> Iterator[np.ndarray]:
    """The ``out_frames`` output frames from a stream of 25 fps model frames, lazily (nearest in time)."""
    wanted = [model_frame_index(k, fps) for k in range(out_frames)]
    k = 0
    for index, frame in enumerate(frames):
        while k < out_frames and wanted[k] == index:
            yield frame
            k += 1
        if k == out_frames:
            return
    if k < out_frames:
        raise ValueError(f"the model made too few frames for {out_frames} output frames (stopped at {k})")
