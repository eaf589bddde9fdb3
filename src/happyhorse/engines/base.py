"""The engine protocol: what generates the pixels and the sound.

An engine is loaded once per worker and then called once per job with a
:class:`GenerationSpec` and an :class:`EngineContext`. It never touches the
database, storage or HTTP. Watermarking, encoding, posters and storage are
not its business.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from happyhorse.rules import RULES

Mode = Literal["t2v", "i2v", "r2v"]

# What every engine's output follows (SPEC §4), from the model's rules.
FPS = RULES.fps
SAMPLE_RATE = RULES.sample_rate
AUDIO_CHANNELS = RULES.audio_channels


class JobCancelled(Exception):
    """Raised inside an engine when ``ctx.cancelled()`` turned true; the job ends cancelled."""


@dataclass(frozen=True)
class GenerationSpec:
    """One job, as an engine sees it."""

    mode: Mode
    prompt: str
    width: int
    height: int
    num_frames: int
    seed: int
    fps: int = FPS
    images: tuple[np.ndarray, ...] = ()
    """Decoded input images, RGB uint8 ``[H, W, 3]``, in request order."""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


@dataclass
class Clip:
    """What an engine returns."""

    frames: np.ndarray | Iterable[np.ndarray]
    """uint8 ``[T, H, W, 3]`` RGB, or an iterator of ``[H, W, 3]`` frames (lets big clips stream)."""
    fps: int
    audio: np.ndarray
    """float32 ``[channels, samples]`` in [-1, 1]."""
    sample_rate: int
    num_frames: int


class EngineContext(Protocol):
    """What the worker hands an engine for one job."""

    log: logging.Logger

    def report_progress(self, fraction: float) -> None:
        """Report progress in [0, 1]; values that go down are ignored."""

    def cancelled(self) -> bool:
        """True once the job has been cancelled; the engine should raise :class:`JobCancelled`."""


@runtime_checkable
class Engine(Protocol):
    """An engine may also set ``pipelined = True``: its ``generate`` does the heavy work (a GPU's)
    before it returns, so the worker generates the next job while this one's frames are pulled
    and encoded on another thread — then pulling a clip's frames must be safe while ``generate``
    runs for the next job. Without it, the worker runs one job after the other.

    An engine may also set ``modes``, the modes it serves (a subset of the model's, e.g.
    ``("t2v", "i2v")``); its worker claims only jobs of those modes (see :func:`engine_modes`).
    Without it, the engine serves every mode of the model's rules."""

    name: str
    """Short name of the engine (``preview``, ``ltx2``, ``wan``)."""
    description: str
    """One line shown in ``GET /v1/models``, honest about what the engine is."""

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip: ...


def engine_modes(engine: object) -> tuple[str, ...]:
    """The modes ``engine`` serves, in the rules' order: its ``modes`` attribute, or every
    mode of the model's rules when it has none. Raises ``ValueError`` for a mode the rules
    do not know or an empty set (an engine that serves nothing is a mistake, not a choice)."""
    declared = getattr(engine, "modes", None)
    if declared is None:
        return RULES.modes
    declared = tuple(declared)
    unknown = sorted(set(declared) - set(RULES.modes))
    if unknown or not declared:
        raise ValueError(f"engine {getattr(engine, 'name', engine)!r} declares modes {declared!r}; "
                         f"expected one or more of {', '.join(RULES.modes)}")
    return tuple(mode for mode in RULES.modes if mode in declared)


def check_spec(spec: GenerationSpec) -> None:
    """Raise ``ValueError`` naming what is wrong with ``spec`` by the model's rules
    (a mode it knows, the images its mode takes, a frame size and length); every
    engine calls it before its own checks."""
    if spec.mode not in RULES.modes:
        raise ValueError(f"unknown mode {spec.mode!r}; expected one of {', '.join(RULES.modes)}")
    if spec.width < 1 or spec.height < 1 or spec.num_frames < 1 or spec.fps < 1:
        raise ValueError(f"bad output shape {spec.width}x{spec.height}x{spec.num_frames} at {spec.fps} fps")
    count = len(spec.images)
    if spec.mode == "t2v" and count:
        raise ValueError(f"t2v takes no images, got {count}")
    if spec.mode == "i2v" and count != 1:
        raise ValueError(f"i2v takes exactly one image, got {count}")
    if spec.mode == "r2v" and not 1 <= count <= RULES.max_images:
        raise ValueError(f"r2v takes 1 to {RULES.max_images} reference images, got {count}")
    for n, image in enumerate(spec.images, start=1):
        if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
            raise ValueError(f"image {n} must be an [H, W, 3] array, got shape {image.shape}")


class NullContext:
    """A context that never cancels and ignores progress (for scripts and tests)."""

    def __init__(self) -> None:
        self.log = logging.getLogger("happyhorse.engine")
        self.progress: list[float] = []

    def report_progress(self, fraction: float) -> None:
        self.progress.append(fraction)

    def cancelled(self) -> bool:
        return False
