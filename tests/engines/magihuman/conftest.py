"""Shared helpers for the magihuman parity tests: the copied reference fixtures in ``tests/data/magihuman``.

Nothing here imports torch at collection time, so a base install (no torch)
skips these tests instead of failing to collect them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MAGI_DATA = Path(__file__).parents[2] / "data" / "magihuman"

# Which tiny model and which packing each forward fixture used (README: SR uses coords v1).
FORWARD_CASES = {
    "t2v": ("arch_config", "dit_tiny", "v2"),
    "ti2v": ("arch_config", "dit_tiny", "v2"),
    "sr_local": ("sr_arch_config", "dit_tiny_sr", "v1"),
}


def load_fixture(name: str) -> dict[str, Any]:
    """``tests/data/magihuman/<name>.safetensors`` as tensors (the test fails, never skips, if it is missing)."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = MAGI_DATA / f"{name}.safetensors"
    if not path.is_file():
        pytest.fail(f"missing test data {path} (copy it from the shared magihuman fixtures)")
    return safetensors_torch.load_file(str(path))


@pytest.fixture(scope="session")
def magi_tensors() -> Callable[[str], dict[str, Any]]:
    """:func:`load_fixture`, cached per session."""
    pytest.importorskip("torch")
    cache: dict[str, dict[str, Any]] = {}

    def load(name: str) -> dict[str, Any]:
        if name not in cache:
            cache[name] = load_fixture(name)
        return cache[name]

    return load


@pytest.fixture(scope="session")
def tiny_configs() -> dict[str, Any]:
    """``config_tiny.json`` as written by the fixture generator."""
    return json.loads((MAGI_DATA / "config_tiny.json").read_text())


@pytest.fixture(scope="session")
def real_config() -> dict[str, Any]:
    """``config_real.json``: full-size configs and every real DiT tensor's name, shape and dtype."""
    return json.loads((MAGI_DATA / "config_real.json").read_text())


# What the engine tests ask for: 2 base and 2 SR steps, the tiny DiT's 16 text tokens, and every
# size at 1/8 of the published sides (256p base -> 32x64, 540p SR -> 64x128), fitted to the output.
TINY_OPTIONS: dict[str, Any] = {"steps": 2, "sr_steps": 2, "text_length": 16, "scale": 0.125}


def need_diffusion() -> None:
    for module in ("torch", "diffusers", "transformers", "tokenizers"):
        pytest.importorskip(module, reason="the diffusion extra is not installed")


@pytest.fixture(scope="session")
def magi_weights(tmp_path_factory) -> Path:
    """A complete magihuman weights directory of tiny random components, in the published layout."""
    need_diffusion()
    from .tiny_weights import build_tiny_weights

    return build_tiny_weights(tmp_path_factory.mktemp("magihuman-tiny") / "weights")


@pytest.fixture(scope="session")
def magi_engine(magi_weights):
    """One engine for the session, as a worker keeps one for its lifetime."""
    from happyhorse.engines import load_engine

    return load_engine("magihuman", {"weights": magi_weights, **TINY_OPTIONS})
