"""What an LTX-2 / LTX-2.3 weights directory holds, and the one explicit way to download one.

A diffusers-format directory has ``model_index.json`` naming each component
and one folder per component. :func:`check_weights` reads it without torch, so
``happyhorse weights check DIR`` works on any install and a worker can refuse a
broken directory at start-up, before loading anything. It also says which
generation the weights are (:mod:`~happyhorse.engines.ltx2.family`) and whether
a latent upsampler is there (``latent_upsampler/``, as in ``Lightricks/LTX-2``,
or a folder given apart): without one, two-stage 1080p is not available.
Nothing here downloads unless :func:`download_weights` is called (by
``happyhorse weights download``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from happyhorse.engines.ltx2.family import family_of
from happyhorse.engines.ltx2.stages import UPSAMPLER_FOLDER, find_upsampler

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
    family: str | None = None
    """``LTX-2`` or ``LTX-2.3``, from the transformer's config; ``None`` when it cannot be read."""
    vocoder: str | None = None
    """The vocoder's class and sample rate, e.g. ``LTX2VocoderWithBWE, 48000 Hz``."""
    upsampler: ComponentStatus | None = None
    """The latent upsampler, when one was found (two-stage 1080p needs it); a broken one makes the
    report incomplete."""

    @property
    def complete(self) -> bool:
        upsampler_ok = self.upsampler is None or self.upsampler.ok
        return not self.problems and all(c.ok for c in self.components) and upsampler_ok

    @property
    def missing(self) -> list[str]:
        """Names of what is missing or broken (``model_index.json`` and component names)."""
        index = ["model_index.json"] if any("model_index.json" in p for p in self.problems) else list(self.problems)
        broken = [c for c in (*self.components, self.upsampler) if c is not None and not c.ok]
        return index + [c.name for c in broken]

    def summary(self) -> str:
        """One line: complete, or what is missing."""
        if self.complete:
            return f"{self.path}: complete {self.family} weights ({self.pipeline_class})"
        broken = [c for c in (*self.components, self.upsampler) if c is not None and not c.ok]
        details = "; ".join(self.problems + [f"{c.name}: {c.problem}" for c in broken])
        return f"{self.path}: incomplete LTX-2 weights: {details}"


def check_weights(path: Path | str, *, upsampler: Path | None = None) -> WeightsReport:
    """Inspect ``path`` as a diffusers-format LTX-2 directory, reading only small JSON files; ``upsampler``
    is a latent upsampler kept apart from it (by default ``path/latent_upsampler`` is looked for)."""
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
    family = _family(path / "transformer", problems)
    folder = find_upsampler(path, upsampler)
    upsampler_status = None if folder is None else _check_component(
        folder, "latent_upsampler", "diffusers", _read_config(folder).get("_class_name"))
    return WeightsReport(path, index.get("_class_name"), problems, components, family=family,
                         vocoder=_vocoder(path / "vocoder"), upsampler=upsampler_status)


def _read_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def _family(folder: Path, problems: list[str]) -> str | None:
    config = _read_config(folder)
    if not config:
        return None  # the transformer's own status says what is wrong with it
    try:
        return family_of(config).name
    except ValueError as exc:
        problems.append(str(exc))
        return None


def _vocoder(folder: Path) -> str | None:
    config = _read_config(folder)
    if not config:
        return None
    return f"{config.get('_class_name', '?')}, {config.get('output_sampling_rate', '?')} Hz"


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
    lists and ``latent_upsampler/`` where the repository has one (it is no
    pipeline component, so the index does not list it): repositories such as
    ``Lightricks/LTX-2`` also hold single-file checkpoints at their root that
    the diffusers pipeline does not use.
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
    patterns = ["model_index.json", *(f"{folder}/*" for folder in (*folders, UPSAMPLER_FOLDER))]
    return Path(snapshot_download(allow_patterns=patterns, **common))


def format_size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover
