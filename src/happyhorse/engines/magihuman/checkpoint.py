"""Loading the published DiT checkpoint as it is laid out on disk.

Public API::

    dit = load_dit(directory, compute_dtype=torch.bfloat16, device="cuda")
    check_state_dict_names(module, names_and_shapes)   # raises CheckpointMismatch

``directory`` holds ``model.safetensors`` or ``*.safetensors.index.json`` plus
its shards, with the reference ``DiTModel.state_dict()`` tensor names, and a
config (``config.json`` with an ``arch_config``) unless ``config=`` is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from happyhorse.engines.magihuman.config import DiTConfig
from happyhorse.engines.magihuman.dit import MagiDiT

__all__ = [
    "CheckpointMismatch",
    "check_names_and_shapes",
    "checkpoint_tensors",
    "expected_tensors",
    "load_dit",
    "read_config",
]

SINGLE_FILE = "model.safetensors"
INDEX_SUFFIX = ".safetensors.index.json"
CONFIG_FILE = "config.json"


class CheckpointMismatch(ValueError):
    """The checkpoint's tensor names or shapes are not the module's; the message lists every difference."""

    def __init__(self, missing: list[str], unexpected: list[str], wrong_shape: list[str]) -> None:
        self.missing, self.unexpected, self.wrong_shape = missing, unexpected, wrong_shape
        parts = []
        for title, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if names:
                parts.append(f"{title} ({len(names)}): " + ", ".join(names))
        super().__init__("checkpoint does not match the DiT: " + "; ".join(parts))


def read_config(directory: str | Path) -> DiTConfig:
    """``config.json`` of a weights directory (an ``arch_config`` mapping, or one nested under that key).

    Without a ``config.json`` the directory is taken to hold the published full-size model.
    """
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        return DiTConfig.real()
    data = json.loads(path.read_text())
    return DiTConfig.from_dict(data.get("arch_config", data))


def checkpoint_tensors(directory: str | Path) -> dict[str, Path]:
    """Map every tensor name to the safetensors file holding it (single file, or an index plus shards)."""
    directory = Path(directory)
    single = directory / SINGLE_FILE
    indexes = sorted(directory.glob("*" + INDEX_SUFFIX))
    if single.is_file() and not indexes:
        from safetensors import safe_open

        with safe_open(single, framework="pt") as f:
            return dict.fromkeys(f.keys(), single)
    if len(indexes) != 1:
        found = "none" if not indexes else ", ".join(p.name for p in indexes)
        raise FileNotFoundError(
            f"{directory}: expected {SINGLE_FILE} or exactly one *{INDEX_SUFFIX} (found {found})"
        )
    weight_map: Mapping[str, str] = json.loads(indexes[0].read_text())["weight_map"]
    files = {name: directory / shard for name, shard in weight_map.items()}
    absent = sorted({p.name for p in files.values() if not p.is_file()})
    if absent:
        raise FileNotFoundError(f"{directory}: shards named in {indexes[0].name} are missing: {', '.join(absent)}")
    return files


def expected_tensors(config: DiTConfig) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Name → (shape, dtype) of every tensor a checkpoint for ``config`` holds (built on ``meta``: no memory)."""
    with torch.device("meta"):
        model = MagiDiT(config)
    return {name: (tuple(t.shape), t.dtype) for name, t in model.state_dict().items()}


def check_names_and_shapes(
    expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]
) -> None:
    """Raise ``CheckpointMismatch`` unless both mappings hold the same names with the same shapes."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(
        f"{n} {tuple(found[n])} != {tuple(expected[n])}"
        for n in set(expected) & set(found)
        if tuple(found[n]) != tuple(expected[n])
    )
    if missing or unexpected or wrong:
        raise CheckpointMismatch(missing, unexpected, wrong)


def load_dit(
    directory: str | Path,
    *,
    config: DiTConfig | None = None,
    compute_dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device = "cpu",
) -> MagiDiT:
    """Build the DiT for ``directory``'s checkpoint and load it, strictly, straight onto ``device``.

    The module is built on ``meta`` and takes the loaded tensors as its own
    (no second copy); each tensor keeps the module's dtype (block linears
    bf16, the rest fp32).
    """
    from safetensors import safe_open

    config = config or read_config(directory)
    with torch.device("meta"):
        model = MagiDiT(config, compute_dtype=compute_dtype)
    files = checkpoint_tensors(directory)
    wanted = {name: t.dtype for name, t in model.state_dict().items()}
    found: dict[str, tuple[int, ...]] = {}
    by_file: dict[Path, list[str]] = {}
    for name, path in files.items():
        by_file.setdefault(path, []).append(name)
    for path, names in by_file.items():
        with safe_open(path, framework="pt") as f:
            for name in names:
                found[name] = tuple(f.get_slice(name).get_shape())
    check_names_and_shapes({n: tuple(t.shape) for n, t in model.state_dict().items()}, found)

    state: dict[str, torch.Tensor] = {}
    for path, names in by_file.items():
        with safe_open(path, framework="pt", device=str(torch.device(device))) as f:
            for name in names:
                state[name] = f.get_tensor(name).to(wanted[name])
    model.load_state_dict(state, strict=True, assign=True)
    model.requires_grad_(False)
    return model.eval()
