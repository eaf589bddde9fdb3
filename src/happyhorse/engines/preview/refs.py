"""r2v for the preview engine: the reference images as cards over a generated backdrop.

Each shot features its heroes (the references the prompt names as
``characterN``, or all of them in turn when none is named) as large cards in
the middle of the frame, drifting slowly so the cut is the only jump. Every
other reference rides along in a strip of small cards at the bottom, so each
one is on screen, and the strip's cards hop on the beats. Cards are built once per shot; a frame is
a crop of the backdrop and a few pastes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from happyhorse.engines.preview.plan import PreviewPlan, Shot
from happyhorse.engines.preview.scene import Camera, ShotTracker, make_elements, shot_background

CARD_BORDER = (244, 242, 236)


@dataclass(frozen=True)
class Card:
    """A reference as a framed card with rounded corners and a soft drop shadow.

    Card and shadow are flattened into one image and mask (the card's mask is
    hard-edged, so this is exact), so a card costs one masked paste, not two.
    """

    image: Image.Image
    mask: Image.Image
    pad: int
    """Margin around the card itself that holds its shadow."""

    def paste_onto(self, frame: Image.Image, x: int, y: int) -> None:
        """Paste the card centred at ``(x, y)``; parts outside the frame are clipped."""
        card_w, card_h = self.image.width - 2 * self.pad, self.image.height - 2 * self.pad
        frame.paste(self.image, (x - card_w // 2 - self.pad, y - card_h // 2 - self.pad), self.mask)


def make_card(reference: Image.Image, width: int, height: int) -> Card:
    """``reference`` cover-fitted into a ``width`` x ``height`` card."""
    width, height = max(4, width), max(4, height)
    border = max(1, round(min(width, height) * 0.03))
    drop = max(1, height // 40)
    pad = 4 * border + 2 * drop
    canvas = (width + 2 * pad, height + 2 * pad)
    card_mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(card_mask).rounded_rectangle((0, 0, width - 1, height - 1), radius=3 * border, fill=255)
    mask = Image.new("L", canvas, 0)
    mask.paste(120, (pad + drop, pad + 2 * drop), card_mask)  # the shadow, offset down and right
    mask = mask.filter(ImageFilter.BoxBlur(2 * border))
    mask.paste(255, (pad, pad), card_mask)
    image = Image.new("RGB", canvas, (0, 0, 0))
    image.paste(CARD_BORDER, (pad, pad, pad + width, pad + height), card_mask)
    inner = (max(1, width - 2 * border), max(1, height - 2 * border))
    image.paste(ImageOps.fit(reference, inner, Image.Resampling.LANCZOS), (pad + border, pad + border))
    return Card(image, mask, pad)


def _shrunk(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    copy = image.copy()
    copy.thumbnail(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    return copy


def fit_inside(aspect: float, max_width: float, max_height: float) -> tuple[int, int]:
    """The largest ``aspect`` (width / height) box inside ``max_width`` x ``max_height``."""
    width = min(max_width, max_height * aspect)
    return round(width), round(width / aspect)


class ReferenceRenderer:
    """r2v frames: hero cards and a strip of the other references over a moving backdrop."""

    def __init__(
        self, plan: PreviewPlan, references: list[Image.Image], width: int, height: int, fps: int, num_frames: int
    ) -> None:
        self.plan, self.size, self.fps = plan, (width, height), fps
        # No card is bigger than 90% x 60% of the frame: shrink big sources once, not per shot.
        self.references = [_shrunk(r, (round(0.9 * width), round(0.6 * height))) for r in references]
        self.cards: dict[tuple[int, int, int], Card] = {}
        self.pulses = plan.pulses(num_frames)
        # Which strip card hops on each beat: the beats are counted as they pass.
        beats = np.zeros(num_frames, np.int32)
        beats[[e.frame for e in plan.events if e.kind == "beat"]] = 1
        self.beat_count = np.cumsum(beats)
        self.tracker = ShotTracker(plan)
        self.camera: Camera | None = None
        self.background: Image.Image | None = None
        self.heroes: list[tuple[Card, float, float]] = []
        self.strip: list[tuple[Card, float]] = []
        self.drift = 1.0

    def _enter_shot(self, shot: Shot) -> None:
        width, height = self.size
        self.camera = Camera(shot, self.size)
        self.background = shot_background(self.plan.look, shot, self.camera.padded_size)
        backdrop = self.background
        for element in make_elements(self.plan.look, shot, self.size, 2):  # a little life behind the cards
            x, y = round(element.x0 * backdrop.width), round(element.y0 * backdrop.height)
            element.sprite.paste_onto(backdrop, x, y, 0)
        rng = np.random.default_rng([shot.seed, 4])
        self.drift = float(rng.choice([-1.0, 1.0]))
        slot = 0.9 * width / len(shot.heroes)
        self.heroes = []
        for j, index in enumerate(shot.heroes):
            reference = self.references[index]
            aspect = min(2.0, max(0.5, reference.width / reference.height))
            card = self._card(index, *fit_inside(aspect, slot * 0.92, 0.6 * height))
            self.heroes.append((card, 0.05 * width + slot * (j + 0.5), float(rng.uniform(0, 2 * math.pi))))
        others = [i for i in range(len(self.references)) if i not in shot.heroes]
        self.strip = []
        if others:
            gap = 0.02 * width
            card_w, card_h = fit_inside(0.8, (0.94 * width - gap * (len(others) - 1)) / len(others), 0.2 * height)
            start = (width - len(others) * card_w - (len(others) - 1) * gap) / 2 + card_w / 2
            self.strip = [
                (self._card(i, card_w, card_h), start + k * (card_w + gap))
                for k, i in enumerate(others)
            ]

    def _card(self, reference: int, width: int, height: int) -> Card:
        """The card for ``reference`` at this size; shots often reuse one, so they are kept."""
        key = (reference, width, height)
        if key not in self.cards:
            self.cards[key] = make_card(self.references[reference], width, height)
        return self.cards[key]

    def render(self, index: int) -> Image.Image:
        """Frame ``index`` as an RGB image of the output size."""
        shot, changed = self.tracker.shot_at(index)
        if changed:
            self._enter_shot(shot)
        assert self.camera is not None and self.background is not None
        width, height = self.size
        frame = self.camera.view(self.background, index)
        t = (index - shot.start) / self.fps
        p = (index - shot.start) / max(1, shot.end - shot.start - 1)
        drift = self.drift * 0.04 * width * (2 * p - 1)
        for card, x, phase in self.heroes:
            y = 0.42 * height + 0.015 * height * math.sin(1.9 * t + phase)
            card.paste_onto(frame, round(x + drift), round(y))
        sway = 0.015 * width * math.sin(0.8 * t)
        hopper = int(self.beat_count[index]) % max(1, len(self.strip))
        for k, (card, x) in enumerate(self.strip):
            hop = 0.025 * height * int(self.pulses[index]) if k == hopper else 0.0
            card.paste_onto(frame, round(x + sway), round(0.86 * height - hop))
        return frame
