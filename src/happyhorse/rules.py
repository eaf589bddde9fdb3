"""The model's rules (SPEC §3, §4, §7): one home that every part reads.

The request parser, the OpenAPI schemas, the model card (``GET /v1/models``,
which the playground reads), the engines' spec check, media, billing and the
worker all take their modes, sizes, bounds, caps, fps, audio format and prices
from :data:`RULES`. Nothing else spells them out; a test holds the few copies
that must stay literal (the OpenAPI enums) to this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(mapping)


@dataclass(frozen=True)
class ModelRules:
    """What HappyHorse 1.1 accepts and produces."""

    model_id: str = "happyhorse-1-1"
    aliases: tuple[str, ...] = ("HappyHorse-1.1", "happyhorse-1.1")
    """Other names the model answers to, compared without case or surrounding whitespace."""
    modes: tuple[str, ...] = ("t2v", "i2v", "r2v")
    """What a job is; a request may also say ``auto`` (:attr:`request_modes`)."""
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4")
    resolutions: tuple[str, ...] = ("720p", "1080p")
    frame_sizes: Mapping[tuple[str, str], tuple[int, int]] = field(default_factory=lambda: _frozen({
        ("16:9", "720p"): (1280, 720),
        ("9:16", "720p"): (720, 1280),
        ("1:1", "720p"): (960, 960),
        ("4:3", "720p"): (1088, 832),
        ("3:4", "720p"): (832, 1088),
        ("16:9", "1080p"): (1920, 1080),
        ("9:16", "1080p"): (1080, 1920),
        ("1:1", "1080p"): (1440, 1440),
        ("4:3", "1080p"): (1632, 1248),
        ("3:4", "1080p"): (1248, 1632),
    }))
    """``(aspect ratio, resolution) → (width, height)`` of the output (SPEC §4)."""
    default_aspect_ratio: str = "16:9"
    default_resolution: str = "720p"
    min_duration: int = 3
    max_duration: int = 15
    default_duration: int = 5
    """Whole seconds of output."""
    max_prompt_chars: int = 2500
    max_images: int = 9
    max_image_reference_chars: int = 2048
    """Longest image URL or upload id in ``image`` (data URIs are bounded by the image size)."""
    max_seed: int = 2_147_483_647
    fps: int = 24
    sample_rate: int = 48_000
    audio_channels: int = 2
    currency: str = "USD"
    price_per_second: Mapping[str, Decimal] = field(default_factory=lambda: _frozen({
        "720p": Decimal("0.14"), "1080p": Decimal("0.18"),
    }))

    @cached_property
    def request_modes(self) -> tuple[str, ...]:
        """What ``mode`` may say in a request: ``auto`` picks one of :attr:`modes` from the images."""
        return ("auto", *self.modes)

    @cached_property
    def names(self) -> dict[str, str]:
        """Every accepted model name, lowercased, to the model's id."""
        return {name.lower(): self.model_id for name in (self.model_id, *self.aliases)}

    def frame_size(self, aspect_ratio: str, resolution: str) -> tuple[int, int]:
        """``(width, height)`` for an aspect ratio and resolution of the table."""
        return self.frame_sizes[(aspect_ratio, resolution)]

    def nearest_aspect_ratio(self, width: int, height: int) -> str:
        """The aspect ratio nearest to ``width:height``, compared in log space
        (so 2:1 and 1:2 are equally far from 1:1)."""
        target = math.log(width / height)

        def distance(name: str) -> float:
            w, h = (int(x) for x in name.split(":"))
            return abs(math.log(w / h) - target)

        return min(self.aspect_ratios, key=distance)

    def num_frames(self, duration: int) -> int:
        """Frames in a ``duration``-second output."""
        return duration * self.fps

    def audio_samples(self, num_frames: int, fps: int | None = None) -> int:
        """Audio samples (per channel) that last exactly as long as ``num_frames`` frames."""
        return round(num_frames * self.sample_rate / (fps or self.fps))

    def card(self) -> dict[str, Any]:
        """The rules as ``GET /v1/models`` publishes them (the engine is added by the caller)."""
        return {
            "id": self.model_id,
            "object": "model",
            "aliases": list(self.aliases),
            "modes": list(self.modes),
            "aspect_ratios": list(self.aspect_ratios),
            "resolutions": list(self.resolutions),
            "frame_sizes": {f"{a} {r}": list(size) for (a, r), size in self.frame_sizes.items()},
            "fps": self.fps,
            "duration": {"min": self.min_duration, "max": self.max_duration, "step": 1,
                         "default": self.default_duration},
            "max_prompt_characters": self.max_prompt_chars,
            "max_images": self.max_images,
            "audio": {"codec": "aac", "sample_rate": self.sample_rate, "channels": self.audio_channels},
            "pricing": {
                "currency": self.currency,
                "unit": "second",
                "per_second": {res: str(price) for res, price in self.price_per_second.items()},
            },
        }


RULES = ModelRules()
"""The rules this service serves."""


class Geometry(NamedTuple):
    """The output's frame size and the aspect ratio it was chosen by."""

    width: int
    height: int
    aspect_ratio: str


def output_geometry(
    mode: str, aspect_ratio: str | None, resolution: str, source_size: tuple[int, int] | None = None
) -> Geometry:
    """The output's frame size: i2v follows its source image (``source_size``, width and
    height), every other mode the requested aspect ratio. Used at submit and at run time."""
    if mode == "i2v":
        if source_size is None:
            raise ValueError("an i2v output's size follows its source image: give source_size")
        aspect_ratio = RULES.nearest_aspect_ratio(*source_size)
    if aspect_ratio is None:
        raise ValueError(f"a {mode} output needs an aspect ratio")
    return Geometry(*RULES.frame_size(aspect_ratio, resolution), aspect_ratio)
