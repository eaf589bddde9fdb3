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


@pytest.fixture(scope="session")
def magi_tensors() -> Callable[[str], dict[str, Any]]:
    """Load ``tests/data/magihuman/<name>.safetensors`` (cached per session)."""
    pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    cache: dict[str, dict[str, Any]] = {}

    def load(name: str) -> dict[str, Any]:
        if name not in cache:
            path = MAGI_DATA / f"{name}.safetensors"
            if not path.is_file():
                pytest.fail(f"missing test data {path} (copy it from the shared magihuman fixtures)")
            cache[name] = safetensors_torch.load_file(path)
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
