"""What an LTX-2 weights directory holds, and the one explicit way to download one.

A diffusers-format directory has ``model_index.json`` naming each component
and one folder per component. :func:`check_weights` reads it without torch, so
``happyhorse weights check DIR`` works on any install and a worker can refuse a
broken directory at start-up, before loading anything. Nothing here downloads
unless :func:`download_weights` is called (by ``happyhorse weights download``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REPO_ID = "Lightricks/LTX-2"

# The components LTX2Pipeline, LTX2ImageToVideoPipeline and LTX2InContextPipeline
# all require (diffusers 0.42); the rest (audio_scheduler, processor,
# prompt_enhancer, duration_head) are optional and checked only when listed.
REQUIRED_COMPONENTS = (
    "transformer", "vae", "audio_vae", "vocoder", "text_encoder", "tokenizer", "connectors", "scheduler",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    library: str | None
    class_name: str | None
    problem: str | None = None
    """``None`` when the component looks complete; else what is missing."""
    files: int = 0
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class WeightsReport:
    """The result of :func:`check_weights`: one status per component."""

    path: Path
    pipeline_class: str | None
    problems: list[str] = field(default_factory=list)
    """Directory-level problems (no ``model_index.json``, unreadable index)."""
    components: list[ComponentStatus] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems and all(c.ok for c in self.components)

    @property
    def missing(self) -> list[str]:
        """Names of what is missing or broken (``model_index.json`` and component names)."""
        index = ["model_index.json"] if any("model_index.json" in p for p in self.problems) else list(self.problems)
        return index + [c.name for c in self.components if not c.ok]

    def summary(self) -> str:
        """One line: complete, or what is missing."""
        if self.complete:
            return f"{self.path}: complete ({self.pipeline_class})"
        details = "; ".join(self.problems + [f"{c.name}: {c.problem}" for c in self.components if not c.ok])
        return f"{self.path}: incomplete LTX-2 weights: {details}"


def check_weights(path: Path | str) -> WeightsReport:
    """Inspect ``path`` as a diffusers-format LTX-2 directory, reading only small JSON files."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return WeightsReport(path, None, problems=[f"{path} is not a directory"])
    index_path = path / "model_index.json"
    problems: list[str] = []
    index: dict = {}
    if not index_path.is_file():
        problems.append("model_index.json is missing")
    else:
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"model_index.json is unreadable: {exc}")
    listed = {k: v for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and len(v) == 2}
    names = list(REQUIRED_COMPONENTS) + [k for k, v in listed.items() if k not in REQUIRED_COMPONENTS and v[0]]
    components = []
    for name in names:
        library, class_name = listed.get(name, [None, None])
        if index and name in REQUIRED_COMPONENTS and library is None:
            components.append(ComponentStatus(name, None, None, "not listed in model_index.json"))
            continue
        components.append(_check_component(path / name, name, library, class_name))
    return WeightsReport(path, index.get("_class_name"), problems, components)


def _check_component(folder: Path, name: str, library: str | None, class_name: str | None) -> ComponentStatus:
    def status(problem: str | None = None) -> ComponentStatus:
        files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        return ComponentStatus(name, library, class_name, problem, len(files), sum(p.stat().st_size for p in files))

    if not folder.is_dir():
        return status(f"folder {name}/ is missing")
    if name == "scheduler" or (class_name or "").endswith("Scheduler"):
        return status(None if (folder / "scheduler_config.json").is_file() else "scheduler_config.json is missing")
    if name == "tokenizer" or (class_name or "").endswith("Tokenizer"):
        found = any((folder / f).is_file() for f in _TOKENIZER_FILES)
        return status(None if found else f"none of {', '.join(_TOKENIZER_FILES)}")
    if name == "processor" or (class_name or "").endswith("Processor"):
        has_config = any(folder.glob("*_config.json"))
        return status(None if has_config else "no *_config.json")
    if not (folder / "config.json").is_file():
        return status("config.json is missing")
    return status(_weights_problem(folder))


def _weights_problem(folder: Path) -> str | None:
    """``None`` when the folder has its weights (every shard an index names); else what is missing."""
    for index_file in sorted(folder.glob("*.index.json")):
        try:
            shards = set(json.loads(index_file.read_text()).get("weight_map", {}).values())
        except (OSError, ValueError) as exc:
            return f"{index_file.name} is unreadable: {exc}"
        absent = sorted(s for s in shards if not (folder / s).is_file())
        if absent:
            return f"shard(s) {', '.join(absent[:3])}{' ...' if len(absent) > 3 else ''} named by {index_file.name} missing"
        return None
    if any(p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir() if p.is_file()):
        return None
    return "no weights file (*.safetensors)"


def download_weights(
    target: Path, *, repo_id: str = DEFAULT_REPO_ID, revision: str | None = None, token: str | None = None
) -> Path:
    """Download a diffusers-format LTX-2 repository into ``target`` (an explicit operator action only).

    Fetches ``model_index.json`` first, then only the component folders it
    lists: repositories such as ``Lightricks/LTX-2`` also hold single-file
    checkpoints at their root that the diffusers pipeline does not use.
    Needs ``huggingface_hub`` (in the ``diffusion`` extra) and internet access.
    """
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        from happyhorse.engines.ltx2.options import INSTALL_HINT, EngineUnavailable

        raise EngineUnavailable(f"downloading weights needs huggingface_hub: {INSTALL_HINT}") from None
    target.mkdir(parents=True, exist_ok=True)
    common = {"repo_id": repo_id, "revision": revision, "local_dir": str(target), "token": token}
    snapshot_download(allow_patterns=["model_index.json"], **common)
    index = json.loads((target / "model_index.json").read_text())
    folders = [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and v and v[0]]
    return Path(snapshot_download(allow_patterns=["model_index.json", *(f"{f}/*" for f in folders)], **common))


def format_size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover
