"""Engines: ``preview`` (procedural, CPU, the default), ``ltx2`` (LTX-2 via diffusers) and ``magihuman``
(daVinci-MagiHuman on our own model code).

``load_engine(name)`` imports an engine's module only when it is selected, so
heavy dependencies (torch, diffusers) are never imported by the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from happyhorse.engines.base import (
    AUDIO_CHANNELS,
    FPS,
    SAMPLE_RATE,
    Clip,
    Engine,
    EngineContext,
    GenerationSpec,
    JobCancelled,
    NullContext,
    engine_modes,
)
from happyhorse.engines.ltx2.options import EngineUnavailable

ENGINE_NAMES = ("preview", "ltx2", "magihuman")

# What GET /v1/models says about each engine, so nobody mistakes preview output
# for a neural model's. Known without loading the engine (the API process never does).
ENGINE_INFO: dict[str, dict[str, Any]] = {
    "preview": {
        "name": "preview",
        "description": "procedural preview renderer (CPU, no neural network): for trying the API, not a generative model",
        "neural": False,
    },
    "ltx2": {
        "name": "ltx2",
        "description": "LTX-2 (Lightricks) text/image/reference-to-video diffusion model with its own audio, "
        "through diffusers, on weights from a local directory",
        "neural": True,
    },
    "magihuman": {
        "name": "magihuman",
        "description": "daVinci-MagiHuman (SII-GAIR / Sand.ai, Apache-2.0) text/image-to-video diffusion model with "
        "its own audio, on our own model code, on weights from a local directory",
        "neural": True,
    },
}


def load_engine(name: str, options: Mapping[str, Any] | None = None) -> Engine:
    """Build the engine called ``name`` with its ``options`` (``ltx2``: ``weights`` and the rest).

    Raises ``ValueError`` for an unknown name or bad options, and
    :class:`EngineUnavailable` when the engine's packages are not installed
    (the message says what to install).
    """
    if name == "preview":
        from happyhorse.engines.preview.engine import PreviewEngine

        if options:
            raise ValueError(f"the preview engine takes no options (got {', '.join(sorted(options))}); "
                             "they are for --engine ltx2")
        return PreviewEngine()
    if name == "ltx2":
        from happyhorse.engines.ltx2.engine import LTX2Engine

        return LTX2Engine(**dict(options or {}))
    if name == "magihuman":
        from happyhorse.engines.magihuman.engine import MagiHumanEngine

        return MagiHumanEngine(**dict(options or {}))
    raise ValueError(f"unknown engine {name!r}; known engines: {', '.join(ENGINE_NAMES)}")


__all__ = [
    "AUDIO_CHANNELS",
    "ENGINE_INFO",
    "ENGINE_NAMES",
    "FPS",
    "SAMPLE_RATE",
    "Clip",
    "Engine",
    "EngineContext",
    "EngineUnavailable",
    "GenerationSpec",
    "JobCancelled",
    "NullContext",
    "engine_modes",
    "load_engine",
]
