"""Sizes, lengths, frames and audio between the SPEC and LTX-2's valid shapes.

LTX-2's VAE compresses 32x in space and 8x in time, so the model generates
frames whose sides are multiples of 32 and clips of ``8k + 1`` frames. The
service promises exact SPEC sizes (1280x720, ...) and exactly ``duration x 24``
frames. So the engine generates at the nearest valid size and the shortest
valid length that covers the clip, then resizes/crops every frame to the exact
size and drops the frames (and audio) past the end.

Only numpy and Pillow here: no torch, so the arithmetic is testable anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

SPATIAL_MULTIPLE = 32
TEMPORAL_MULTIPLE = 8


@dataclass(frozen=True)
class GenerationShape:
    """What the pipeline is asked for, next to what the service must deliver."""

    width: int
    height: int
    num_frames: int
    """Valid for the model: sides multiples of 32, ``8k + 1`` frames."""
    out_width: int
    out_height: int
    out_frames: int
    """The SPEC's exact size and frame count."""


def nearest_multiple(value: float, multiple: int = SPATIAL_MULTIPLE) -> int:
    """``value`` rounded to the nearest multiple (halves up), never below one multiple."""
    return max(multiple, int(math.floor(value / multiple + 0.5)) * multiple)


def valid_num_frames(num_frames: int, multiple: int = TEMPORAL_MULTIPLE) -> int:
    """The shortest ``multiple * k + 1`` frame count that holds ``num_frames`` (trimmed afterwards)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    return multiple * math.ceil((num_frames - 1) / multiple) + 1


def generation_shape(width: int, height: int, num_frames: int, *, scale: float = 1.0,
                     two_stage: bool = False) -> GenerationShape:
    """The valid shape to generate for an output of ``width x height x num_frames``.

    ``scale`` < 1 generates at that fraction of the output's sides and upscales
    the frames afterwards: less memory and time per step, at a loss of detail
    (an operator's choice for small GPUs, and what the CPU tests use).
    ``two_stage`` rounds the sides to multiples of 64, so that the first stage,
    at half the size, is itself valid and the latent upsampler's 2x lands on it.
    """
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    multiple = SPATIAL_MULTIPLE * (2 if two_stage else 1)
    return GenerationShape(
        width=nearest_multiple(width * scale, multiple),
        height=nearest_multiple(height * scale, multiple),
        num_frames=valid_num_frames(num_frames),
        out_width=width,
        out_height=height,
        out_frames=num_frames,
    )


def cover_box(src_width: int, src_height: int, out_width: int, out_height: int) -> tuple[int, int, int, int]:
    """The centred crop of the source with the output's aspect (``left, top, right, bottom``)."""
    target = out_width / out_height
    if src_width / src_height > target:
        crop_width = max(1, round(src_height * target))
        left = (src_width - crop_width) // 2
        return left, 0, left + crop_width, src_height
    crop_height = max(1, round(src_width / target))
    top = (src_height - crop_height) // 2
    return 0, top, src_width, top + crop_height


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """One RGB frame (uint8 or float in [0, 1]) centre-cropped to the aspect and resized to ``width x height``."""
    if frame.dtype != np.uint8:
        frame = (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    src_height, src_width = frame.shape[:2]
    if (src_width, src_height) == (width, height):
        return np.ascontiguousarray(frame)
    image = Image.fromarray(frame)
    box = cover_box(src_width, src_height, width, height)
    return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC, box=box))


def fitted_frames(frames: Iterable[np.ndarray], shape: GenerationShape) -> Iterator[np.ndarray]:
    """The first ``out_frames`` of ``frames`` (``[H, W, 3]`` each, an array or a stream), each fitted to the
    output size, lazily: a stream is read no further than the frames it needs."""
    count = 0
    for frame in frames:
        yield fit_frame(frame, shape.out_width, shape.out_height)
        count += 1
        if count == shape.out_frames:
            return
    if count < shape.out_frames:
        raise ValueError(f"the pipeline returned {count} frames, fewer than the {shape.out_frames} needed")


def fit_image(image: np.ndarray, width: int, height: int) -> Image.Image:
    """An input image cropped to the generation's aspect and resized to it (for i2v and references)."""
    return Image.fromarray(fit_frame(image, width, height))


def trim_audio(audio: np.ndarray, sample_rate: int, num_frames: int, fps: int) -> np.ndarray:
    """Vocoder output as float32 ``[channels, samples]``, cut (or zero-padded) to ``num_frames / fps`` seconds."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    wanted = round(num_frames * sample_rate / fps)
    if audio.shape[1] >= wanted:
        audio = audio[:, :wanted]
    else:
        audio = np.pad(audio, ((0, 0), (0, wanted - audio.shape[1])))
    return np.clip(np.nan_to_num(audio), -1.0, 1.0)
