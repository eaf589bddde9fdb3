"""The preview engine's plan: everything the prompt and seed decide before a pixel is drawn.

A :class:`PreviewPlan` is a pure function of the spec (mode, prompt, seed,
length, reference count): the palette and shapes come from the prompt's words,
the layout and timing from the seed. Shots start on beats of a tempo read from
the prompt, and every visual event (a cut, a flash, a beat pulse) is an
:class:`Event` at a known frame, so the soundtrack can put a hit at exactly
``frame / fps`` seconds.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from happyhorse.engines.base import GenerationSpec

EventKind = Literal["cut", "flash", "beat"]
ShapeKind = Literal["orb", "bar", "star", "blob"]

SHAPE_KINDS: tuple[ShapeKind, ...] = ("orb", "bar", "star", "blob")

_STOP_WORDS = frozenset(
    "a an the and or but of in on at to with for from by into onto over under is are was were be "
    "as it its this that these those his her their our your my very some who which while then".split()
)
# Colour words keep their meaning (a "red fox" gets red); other words hash to a hue.
_COLOR_HUES = {
    "red": 0.0, "crimson": 0.97, "orange": 0.07, "amber": 0.09, "gold": 0.12, "golden": 0.12,
    "yellow": 0.15, "lime": 0.25, "green": 0.33, "forest": 0.3, "emerald": 0.38, "teal": 0.47,
    "turquoise": 0.48, "cyan": 0.5, "ice": 0.53, "snow": 0.55, "sea": 0.56, "sky": 0.57,
    "ocean": 0.58, "blue": 0.6, "navy": 0.63, "indigo": 0.69, "purple": 0.75, "violet": 0.77,
    "magenta": 0.85, "pink": 0.92, "rose": 0.95, "sunset": 0.04, "fire": 0.03, "lava": 0.01,
}  # fmt: skip
_DARK_WORDS = frozenset("night dark midnight space moon storm noir shadow cave galaxy neon".split())
_SHAPE_WORDS: dict[str, ShapeKind] = {
    **dict.fromkeys("star stars sparkle sparkles galaxy snow firework fireworks".split(), "star"),
    **dict.fromkeys("rain city road light lights neon laser train street".split(), "bar"),
    **dict.fromkeys("ocean sea water cloud clouds jelly smoke lava wave waves".split(), "blob"),
    **dict.fromkeys("sun moon ball bubble bubbles planet balloon balloons".split(), "orb"),
}
_FAST_WORDS = frozenset("fast run running race racing dance dancing jump action chase storm".split())
_SLOW_WORDS = frozenset("calm slow gentle sleep sleeping quiet float floating drift peaceful".split())
_CHARACTER = re.compile(r"\bcharacter([1-9])\b", re.IGNORECASE)


def stable_hash(*parts: object) -> int:
    """A non-negative 63-bit hash of ``parts``, the same in every process (``hash()`` is salted)."""
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        digest.update(repr(part).encode("utf-8"))
        digest.update(b"\x1f")
    return int.from_bytes(digest.digest(), "big") >> 1


def rng_for(*parts: object) -> np.random.Generator:
    """A generator seeded from ``parts``: never the global RNG, never the clock."""
    return np.random.default_rng(stable_hash(*parts))


@dataclass(frozen=True)
class Look:
    """What the prompt's words decide: palette, shapes, tempo, key."""

    hues: tuple[float, ...]
    """Palette hues in [0, 1), colour words first."""
    dark: bool
    """A night-time look: dark backgrounds and a minor key."""
    shapes: tuple[ShapeKind, ...]
    """Element shapes, one per significant word (at least one)."""
    bpm: float
    root: int
    """MIDI note of the key's root."""
    minor: bool
    richness: int
    """How busy a scene is (0-4), from the prompt's length."""


@dataclass(frozen=True)
class Shot:
    """Frames ``[start, end)``; a cut (or, in i2v, a camera move) starts at ``start``."""

    index: int
    start: int
    end: int
    seed: int
    heroes: tuple[int, ...] = ()
    """r2v: 0-based indices of the references featured in this shot."""


@dataclass(frozen=True)
class Event:
    """A visual event at ``frame`` that the soundtrack marks with a hit at ``frame / fps`` s."""

    frame: int
    kind: EventKind
    """``cut`` (t2v, r2v) and ``flash`` (i2v) change most of the picture; ``beat`` is a pulse."""


@dataclass(frozen=True)
class PreviewPlan:
    """The whole clip's plan; rendering and audio read it, nothing else."""

    seed: int
    look: Look
    shots: tuple[Shot, ...]
    events: tuple[Event, ...]
    featured: tuple[int, ...]
    """r2v: 0-based indices of references the prompt names as ``characterN`` (all if none named)."""

    @property
    def big_events(self) -> tuple[int, ...]:
        """Frames of cuts and flashes: the events a frame difference sees clearly."""
        return tuple(e.frame for e in self.events if e.kind != "beat")

    def pulses(self, num_frames: int) -> np.ndarray:
        """Per frame, how strongly a beat pulse shows: 2 on the beat, 1 just after, else 0."""
        pulse = np.zeros(num_frames, np.int8)
        for event in self.events:
            if event.kind == "beat":
                pulse[event.frame] = 2
                if event.frame + 1 < num_frames:
                    pulse[event.frame + 1] = max(pulse[event.frame + 1], 1)
        return pulse


def prompt_words(prompt: str) -> list[str]:
    """The prompt's significant words, lower-cased, in order (``characterN`` left out)."""
    words = re.findall(r"[a-z]+", prompt.lower())
    return [w for w in words if w not in _STOP_WORDS and not w.startswith("character")]


def named_characters(prompt: str, count: int) -> tuple[int, ...]:
    """0-based indices of references named ``characterN`` in the prompt, first mention first."""
    named: list[int] = []
    for match in _CHARACTER.finditer(prompt):
        index = int(match.group(1)) - 1
        if index < count and index not in named:
            named.append(index)
    return tuple(named)


def read_look(prompt: str, seed: int) -> Look:
    """The palette, shapes, tempo and key for ``prompt``; ``seed`` only nudges them."""
    words = prompt_words(prompt)
    jitter = rng_for("look", seed, prompt)
    color_hues = [_COLOR_HUES[w] for w in words if w in _COLOR_HUES]
    other_hues = [(stable_hash("hue", w) % 1000) / 1000 for w in words if w not in _COLOR_HUES]
    hues = (color_hues + other_hues)[:4]
    while len(hues) < 3:  # short prompts: fill with seed-chosen harmonies of what is there
        base = hues[-1] if hues else jitter.random()
        hues.append((base + jitter.choice([0.33, 0.5, 0.12, 0.67])) % 1.0)
    hues = [(h + jitter.uniform(-0.03, 0.03)) % 1.0 for h in hues]
    word_set = set(words)
    shapes = [_SHAPE_WORDS.get(w, SHAPE_KINDS[stable_hash("shape", w) % 4]) for w in words]
    keyed = [_SHAPE_WORDS[w] for w in words if w in _SHAPE_WORDS]
    shapes = (keyed + shapes)[:4] or [SHAPE_KINDS[jitter.integers(4)]]
    text_hash = stable_hash("text", " ".join(words))
    dark = bool(word_set & _DARK_WORDS) or text_hash % 3 == 0
    bpm = 84 + text_hash % 37 + jitter.uniform(-3, 3)
    if word_set & _FAST_WORDS:
        bpm += 18
    if word_set & _SLOW_WORDS:
        bpm -= 16
    return Look(
        hues=tuple(hues),
        dark=dark,
        shapes=tuple(shapes),
        bpm=float(np.clip(bpm, 70, 140)),
        root=45 + (text_hash >> 8) % 12,
        minor=dark or (text_hash >> 16) % 2 == 1,
        richness=min(4, len(words) // 3),
    )


def beat_frames(bpm: float, fps: int, num_frames: int) -> list[int]:
    """Frames the beats fall on (rounded to whole frames so hits land on frame times)."""
    per_beat = fps * 60.0 / bpm
    count = int(math.ceil(num_frames / per_beat))
    return sorted({f for k in range(count + 1) if (f := round(k * per_beat)) < num_frames})


def plan_clip(spec: GenerationSpec) -> PreviewPlan:
    """Plan ``spec``'s clip: look, shots on beats, heroes, and every visual event."""
    seed = stable_hash("happyhorse-preview", spec.mode, spec.seed, spec.prompt)
    rng = np.random.default_rng(seed)
    look = read_look(spec.prompt, spec.seed)
    beats = beat_frames(look.bpm, spec.fps, spec.num_frames)
    # Shots last 4-8 beats; the last one is never shorter than ~1 s, so a cut never flickers.
    starts = [0]
    beat_index = 0
    while True:
        beat_index += int(rng.choice([4, 6, 8] if spec.mode != "i2v" else [4, 5, 6]))
        if beat_index >= len(beats) or beats[beat_index] > spec.num_frames - spec.fps:
            break
        starts.append(beats[beat_index])
    ends = starts[1:] + [spec.num_frames]
    featured = named_characters(spec.prompt, len(spec.images)) if spec.mode == "r2v" else ()
    if spec.mode == "r2v" and not featured:
        featured = tuple(range(len(spec.images)))
    shots = tuple(
        Shot(k, s, e, stable_hash(seed, "shot", k), _heroes(featured, k, len(starts)))
        for k, (s, e) in enumerate(zip(starts, ends, strict=True))
    )
    boundary = "flash" if spec.mode == "i2v" else "cut"
    events = [Event(s, boundary) for s in starts[1:]]
    events += [Event(b, "beat") for b in beats if b > 0 and b not in starts]
    events.sort(key=lambda e: e.frame)
    return PreviewPlan(seed, look, shots, tuple(events), featured)


def _heroes(featured: tuple[int, ...], shot_index: int, shot_count: int) -> tuple[int, ...]:
    """The references shot ``shot_index`` features: enough per shot that each gets a turn."""
    if not featured:
        return ()
    per_shot = min(3, len(featured), math.ceil(len(featured) / shot_count))
    first = shot_index * per_shot
    return tuple(featured[(first + j) % len(featured)] for j in range(per_shot))
