"""The output frame sizes of SPEC §4."""

from __future__ import annotations

import math

ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
RESOLUTIONS = ("720p", "1080p")

FRAME_SIZES: dict[tuple[str, str], tuple[int, int]] = {
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
}


def frame_size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """``(width, height)`` for an aspect ratio and resolution of the table."""
    return FRAME_SIZES[(aspect_ratio, resolution)]


def nearest_aspect_ratio(width: int, height: int) -> str:
    """The table's aspect ratio nearest to ``width:height`` (compared in log space,
    so 2:1 and 1:2 are equally far from 1:1)."""
    target = math.log(width / height)

    def distance(name: str) -> float:
        w, h = (int(x) for x in name.split(":"))
        return abs(math.log(w / h) - target)

    return min(ASPECT_RATIOS, key=distance)
