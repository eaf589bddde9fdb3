"""Drawing for the preview engine: backgrounds, glowing shapes, and the t2v scene.

Speed comes from doing per-pixel maths once per shot, not once per frame: a
shot's background is drawn at quarter resolution, upscaled once to a little
more than the frame (the margin lets the camera drift by cropping), and each
shape is a pre-drawn sprite (colour plus soft alpha mask, three pulse sizes).
A frame is then one crop and a few masked pastes, all inside Pillow's C code.
"""

from __future__ import annotations

import bisect
import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from happyhorse.engines.preview.plan import Look, PreviewPlan, ShapeKind, Shot

PULSE_SCALES = (1.0, 1.08, 1.18)
"""Sprite size at pulse level 0 (rest), 1 (just after a beat) and 2 (on the beat)."""


def hsv_color(hue: float, saturation: float, value: float) -> np.ndarray:
    """RGB in 0-255 (float32) for an HSV colour; ``hue`` wraps."""
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), np.float32) * 255


def _smooth(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Smoothstep from ``edge0`` to ``edge1`` (edges may be reversed): soft, anti-aliased edges."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def shot_background(look: Look, shot: Shot, size: tuple[int, int]) -> Image.Image:
    """A shot's backdrop of ``size``: gradient, glows and vignette from the palette.

    Consecutive shots alternate between a brighter and a darker value so that
    every cut is a large, measurable change of the picture.
    """
    rng = np.random.default_rng(shot.seed)
    width, height = max(4, size[0] // 4), max(4, size[1] // 4)
    u = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, :]
    v = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
    hue = look.hues[(shot.index + rng.integers(len(look.hues))) % len(look.hues)]
    value = (0.34 if look.dark else 0.78) * (1.0 if shot.index % 2 == 0 else 0.55)
    top = hsv_color(hue, rng.uniform(0.45, 0.75), value)
    bottom = hsv_color(hue + rng.uniform(0.06, 0.2), rng.uniform(0.5, 0.8), value * 0.5)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = np.clip((u - 0.5) * math.cos(angle) + (v - 0.5) * math.sin(angle) + 0.5, 0, 1)
    image = top * (1 - ramp[..., None]) + bottom * ramp[..., None]
    for _ in range(2 + look.richness // 2):
        glow_hue = look.hues[rng.integers(len(look.hues))] + rng.uniform(-0.05, 0.05)
        glow = hsv_color(glow_hue, rng.uniform(0.4, 0.7), value)
        cx, cy, radius = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.15, 0.4)
        falloff = np.exp(-((u - cx) ** 2 + (v - cy) ** 2) / (radius * radius))
        image += glow * (0.45 * falloff)[..., None]
    image *= (1 - 0.45 * ((u - 0.5) ** 2 + (v - 0.5) ** 2))[..., None]
    small = Image.fromarray(np.clip(image, 0, 250).astype(np.uint8))
    return small.resize(size, Image.Resampling.BILINEAR)


def shape_alpha(kind: ShapeKind, n: int, rng: np.random.Generator) -> np.ndarray:
    """An ``[n, n]`` soft alpha mask in [0, 1] for one shape: a solid core plus a glow."""
    c = (np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1
    u, v = c[None, :], c[:, None]
    r = np.sqrt(u * u + v * v)
    if kind == "orb":
        core = _smooth(0.5, 0.45, r)
        glow = 0.55 * np.exp(-2.5 * (r / 0.5) ** 2)
    elif kind == "star":
        points = int(rng.integers(4, 8))
        theta = np.arctan2(v, u) + rng.uniform(0, 2 * math.pi)
        rim = 0.18 + 0.32 * np.abs(np.cos(points * theta / 2)) ** 6
        core = _smooth(rim + 0.02, rim - 0.02, r)
        glow = 0.5 * np.exp(-2.0 * (r / 0.3) ** 2)
    elif kind == "bar":
        angle = rng.uniform(0, math.pi)
        along = np.abs(u * math.cos(angle) + v * math.sin(angle))
        across = np.abs(-u * math.sin(angle) + v * math.cos(angle))
        thickness = rng.uniform(0.06, 0.13)
        core = _smooth(thickness, thickness - 0.02, across) * _smooth(0.48, 0.42, along)
        glow = 0.4 * np.exp(-((across / (3 * thickness)) ** 2)) * _smooth(0.5, 0.3, along)
    else:  # blob: a metaball of a few Gaussians, so each one is a different organic shape
        field = np.zeros((n, n), np.float32)
        for _ in range(4):
            cx, cy, s = rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), rng.uniform(0.14, 0.24)
            field += np.exp(-((u - cx) ** 2 + (v - cy) ** 2) / (s * s))
        core = _smooth(0.45, 0.55, field)
        glow = 0.4 * np.clip(field, 0, 1)
    # Fade to nothing before the sprite's border so no square edge ever shows.
    border = _smooth(1.0, 0.85, np.maximum(np.abs(u), np.abs(v)))
    return np.maximum(core, glow) * border


@dataclass(frozen=True)
class Sprite:
    """A shape ready to paste: per pulse level, a colour image, its alpha mask and its offset.

    Images are cropped to where the mask is not zero: a masked paste costs
    per pixel, and most of a glow's square is empty.
    """

    fills: tuple[Image.Image, ...]
    masks: tuple[Image.Image, ...]
    offsets: tuple[tuple[int, int], ...]
    """Top-left corner of each image relative to the shape's centre."""

    def paste_onto(self, frame: Image.Image, x: int, y: int, level: int) -> None:
        """Paste centred at ``(x, y)``; parts outside the frame are clipped."""
        dx, dy = self.offsets[level]
        frame.paste(self.fills[level], (x + dx, y + dy), self.masks[level])


def make_sprite(
    kind: ShapeKind, color: np.ndarray, diameter: int, opacity: float, rng: np.random.Generator
) -> Sprite:
    """Draw a shape once at its largest pulse size and shrink it for the others."""
    n = max(4, round(diameter * PULSE_SCALES[-1]))
    alpha = shape_alpha(kind, n, rng) * opacity
    c = (np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1
    hot = 0.55 * np.exp(-((c[None, :] ** 2 + c[:, None] ** 2) / 0.09))  # a white-hot centre
    fill = color + (255 - color) * hot[..., None]
    big_fill = Image.fromarray(np.clip(fill, 0, 255).astype(np.uint8))
    big_mask = Image.fromarray(np.clip(alpha * 255, 0, 255).astype(np.uint8))
    fills, masks, offsets = [], [], []
    for scale in PULSE_SCALES:
        side = max(2, round(n * scale / PULSE_SCALES[-1]))
        mask = big_mask.resize((side, side), Image.Resampling.BILINEAR).point(lambda a: a if a > 2 else 0)
        box = mask.getbbox() or (0, 0, 1, 1)
        fills.append(big_fill.resize((side, side), Image.Resampling.BILINEAR).crop(box))
        masks.append(mask.crop(box))
        offsets.append((box[0] - side // 2, box[1] - side // 2))
    return Sprite(tuple(fills), tuple(masks), tuple(offsets))


@dataclass(frozen=True)
class Element:
    """One moving shape: a sprite, a depth, and a closed-form path in frame fractions."""

    sprite: Sprite
    depth: float
    """0 far (small, dim, slow) to 1 near."""
    path: str
    x0: float
    y0: float
    ax: float
    ay: float
    omega: float
    phase: float

    def center(self, t: float) -> tuple[float, float]:
        """Position (fractions of the frame) ``t`` seconds into the shot."""
        w = self.omega * t + self.phase
        if self.path == "orbit":
            return self.x0 + self.ax * math.cos(w), self.y0 + self.ay * math.sin(w)
        if self.path == "bounce":
            return self.x0 + self.ax * math.sin(w), self.y0 + 0.5 * self.ay - self.ay * abs(math.sin(2 * w))
        if self.path == "figure8":
            return self.x0 + self.ax * math.sin(w), self.y0 + self.ay * math.sin(2 * w)
        x = (self.x0 + self.ax * 0.4 * self.omega * t + 0.25) % 1.5 - 0.25  # drift, wrapping around
        return x, self.y0 + self.ay * 0.3 * math.sin(w)


def make_elements(look: Look, shot: Shot, size: tuple[int, int], count: int) -> list[Element]:
    """``count`` shapes for a shot, far ones first (the order they are drawn in)."""
    rng = np.random.default_rng([shot.seed, 1])
    side = min(size)
    elements = []
    for _ in range(count):
        depth = float(rng.uniform(0, 1))
        kind = look.shapes[rng.integers(len(look.shapes))]
        hue = look.hues[rng.integers(len(look.hues))] + rng.uniform(-0.04, 0.04)
        color = hsv_color(hue, rng.uniform(0.45, 0.9), rng.uniform(0.85, 1.0))
        diameter = round(side * (0.16 + 0.36 * depth) * rng.uniform(0.8, 1.25))
        sprite = make_sprite(kind, color, diameter, 0.55 + 0.45 * depth, rng)
        elements.append(
            Element(
                sprite, depth,
                path=str(rng.choice(["orbit", "bounce", "figure8", "drift"])),
                x0=float(rng.uniform(0.15, 0.85)), y0=float(rng.uniform(0.2, 0.8)),
                ax=float(rng.uniform(0.08, 0.3)), ay=float(rng.uniform(0.08, 0.3)),
                omega=float(rng.uniform(0.5, 1.3) * look.bpm / 100 * (0.6 + 0.6 * depth)),
                phase=float(rng.uniform(0, 2 * math.pi)),
            )  # fmt: skip
        )
    return sorted(elements, key=lambda e: e.depth)


class ShotTracker:
    """Finds the shot of a frame; frames usually come in order, so the last answer is cached."""

    def __init__(self, plan: PreviewPlan) -> None:
        self.shots = plan.shots
        self._starts = [s.start for s in plan.shots]
        self.current: Shot | None = None

    def shot_at(self, index: int) -> tuple[Shot, bool]:
        """The shot holding frame ``index``, and whether it differs from the previous answer."""
        shot = self.shots[bisect.bisect_right(self._starts, index) - 1]
        changed = shot is not self.current
        self.current = shot
        return shot, changed


class Camera:
    """A slow drift across a shot: the crop box into a background a margin larger than the frame."""

    def __init__(self, shot: Shot, size: tuple[int, int]) -> None:
        rng = np.random.default_rng([shot.seed, 2])
        self.shot = shot
        self.size = size
        self.margin = (max(1, round(size[0] * 0.04)), max(1, round(size[1] * 0.04)))
        self.direction = (float(rng.choice([-1, 1])), float(rng.uniform(-1, 1)))

    @property
    def padded_size(self) -> tuple[int, int]:
        return self.size[0] + 2 * self.margin[0], self.size[1] + 2 * self.margin[1]

    def offset(self, index: int) -> tuple[int, int]:
        """How far the camera has moved from the centre, in pixels, at frame ``index``."""
        span = max(1, self.shot.end - self.shot.start - 1)
        p = 2 * (index - self.shot.start) / span - 1
        return (
            round(self.margin[0] * 0.9 * self.direction[0] * p),
            round(self.margin[1] * 0.9 * self.direction[1] * p),
        )

    def view(self, background: Image.Image, index: int) -> Image.Image:
        """The frame-sized crop of ``background`` the camera sees (a new, writable image)."""
        dx, dy = self.offset(index)
        left, top = self.margin[0] + dx, self.margin[1] + dy
        return background.crop((left, top, left + self.size[0], top + self.size[1]))


class SceneRenderer:
    """t2v frames: per shot a backdrop and a flock of glowing shapes moving on their paths."""

    def __init__(self, plan: PreviewPlan, width: int, height: int, fps: int, num_frames: int) -> None:
        self.plan, self.size, self.fps = plan, (width, height), fps
        self.pulses = plan.pulses(num_frames)
        self.tracker = ShotTracker(plan)
        self.background: Image.Image | None = None
        self.camera: Camera | None = None
        self.elements: list[Element] = []

    def _enter_shot(self, shot: Shot) -> None:
        self.camera = Camera(shot, self.size)
        self.background = shot_background(self.plan.look, shot, self.camera.padded_size)
        count = 5 + self.plan.look.richness + shot.seed % 2
        self.elements = make_elements(self.plan.look, shot, self.size, count)

    def render(self, index: int) -> Image.Image:
        """Frame ``index`` as an RGB image of the output size."""
        shot, changed = self.tracker.shot_at(index)
        if changed:
            self._enter_shot(shot)
        assert self.camera is not None and self.background is not None
        frame = self.camera.view(self.background, index)
        t = (index - shot.start) / self.fps
        dx, dy = self.camera.offset(index)
        width, height = self.size
        level = int(self.pulses[index])
        for element in self.elements:
            x, y = element.center(t)
            parallax = 0.5 + element.depth  # near shapes slide past faster than the backdrop
            element.sprite.paste_onto(
                frame, round(x * width - dx * parallax), round(y * height - dy * parallax), level
            )
        return frame
