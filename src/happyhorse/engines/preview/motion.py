"""i2v for the preview engine: a camera moving over the source image.

Frame 0 is the source resized to cover the frame and centre-cropped
(``ImageOps.fit`` with Lanczos). Later frames are a Ken Burns move: the camera
eases between key framings (push in, pan, pull back), one per shot, and each
new move starts under a light pulse (a flash) that the soundtrack marks.

Speed: the moving frames are cut out of a master copy at twice the output
size with nearest-neighbour sampling, which costs about as much as a copy;
the 2x supersampling keeps that sampling within a quarter pixel, so a slow
zoom does not shimmer the way nearest-neighbour at 1x would.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from happyhorse.engines.preview.plan import PreviewPlan

SUPERSAMPLE = 2
FLASH_STRENGTH = (0.5, 0.25, 0.1)
"""How far frames ``e``, ``e+1``, ``e+2`` of a flash at ``e`` are blended towards the flash colour."""


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` resized to cover ``size`` and centre-cropped to it (what frame 0 shows)."""
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS)


def _ease(p: float) -> float:
    return p * p * (3 - 2 * p)


class ImageRenderer:
    """i2v frames: the source image under a slow camera, with light pulses on the plan's flashes."""

    def __init__(self, plan: PreviewPlan, image: Image.Image, width: int, height: int, num_frames: int) -> None:
        self.size = (width, height)
        self.first = cover(image, self.size)
        # Same aspect as the frame, so ImageOps.fit crops the same region of the source.
        self.master = cover(image, (width * SUPERSAMPLE, height * SUPERSAMPLE))
        self.keys = self._key_framings(plan, num_frames)
        luma = float(np.asarray(self.first.convert("L"), np.float32).mean())
        # A white pulse would vanish on a bright image; there the pulse dims instead.
        self.flash = Image.new("RGB", self.size, (0, 0, 0) if luma > 150 else (255, 255, 255))
        self.flash_strength = np.zeros(num_frames, np.float32)
        for frame in plan.big_events:
            for k, strength in enumerate(FLASH_STRENGTH):
                if frame + k < num_frames:
                    self.flash_strength[frame + k] = max(self.flash_strength[frame + k], strength)

    @staticmethod
    def _key_framings(plan: PreviewPlan, num_frames: int) -> list[tuple[int, float, float, float]]:
        """``(frame, zoom, centre x, centre y)`` keys: full frame at 0, then one per shot change."""
        keys = [(0, 1.0, 0.5, 0.5)]
        frames = [s.start for s in plan.shots[1:]] + [max(1, num_frames - 1)]
        for k, frame in enumerate(frames):
            rng = np.random.default_rng([plan.seed, 3, k])
            zoom = float(rng.uniform(1.08, 1.25))
            room = (1 - 1 / zoom) / 2  # how far the centre may move before the view leaves the image
            keys.append((frame, zoom, 0.5 + room * rng.uniform(-1, 1), 0.5 + room * rng.uniform(-1, 1)))
        return keys

    def framing(self, index: int) -> tuple[float, float, float]:
        """Zoom and view centre (fractions of the image) at frame ``index``."""
        for (f0, z0, x0, y0), (f1, z1, x1, y1) in zip(self.keys, self.keys[1:], strict=False):
            if index <= f1:
                p = _ease(min(1.0, max(0.0, (index - f0) / max(1, f1 - f0))))
                return z0 + (z1 - z0) * p, x0 + (x1 - x0) * p, y0 + (y1 - y0) * p
        return self.keys[-1][1:]

    def render(self, index: int) -> Image.Image:
        """Frame ``index`` as an RGB image of the output size; frame 0 is :func:`cover` of the source."""
        if index == 0:
            frame = self.first.copy()
        else:
            zoom, cx, cy = self.framing(index)
            mw, mh = self.master.size
            half_w, half_h = mw / zoom / 2, mh / zoom / 2
            left = min(max(cx * mw - half_w, 0.0), mw - 2 * half_w)
            top = min(max(cy * mh - half_h, 0.0), mh - 2 * half_h)
            box = (left, top, left + 2 * half_w, top + 2 * half_h)
            frame = self.master.resize(self.size, Image.Resampling.NEAREST, box=box)
        strength = float(self.flash_strength[index])
        if strength > 0:
            frame = Image.blend(frame, self.flash, strength)
        return frame
