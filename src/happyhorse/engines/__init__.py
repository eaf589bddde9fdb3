"""Engines: ``preview`` (procedural, CPU, the default) and, later, neural ones.

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
)

ENGINE_NAMES = ("preview",)

# What GET /v1/models says about each engine, so nobody mistakes preview output
# for a neural model's. Known without loading the engine (the API process never does).
ENGINE_INFO: dict[str, dict[str, Any]] = {
    "preview": {
        "name": "preview",
        "description": "procedural preview renderer (CPU, no neural network): for trying the API, not a generative model",
        "neural": False,
    },
}


def load_engine(name: str, options: Mapping[str, Any] | None = None) -> Engine:
    """Build the engine called ``name``; raises ``ValueError`` naming the known ones."""
    if name == "preview":
        from happyhorse.engines.preview import PreviewEngine

        return PreviewEngine(**dict(options or {}))
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
    "GenerationSpec",
    "JobCancelled",
    "NullContext",
    "load_engine",
]
