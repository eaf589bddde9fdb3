"""The weights layout of the ``magihuman`` engine: what ``weights check`` looks for and ``download`` fetches.

One directory holds the model repository and the three external components,
each in the folder the reference's example configs name::

    DIR/
      distill/  base/  540p_sr/  1080p_sr/  turbo_vae/   GAIR/daVinci-MagiHuman (DiTs: sharded safetensors)
      t5gemma-9b-9b-ul2/                                 google/t5gemma-9b-9b-ul2 (tokenizer + T5Gemma; its encoder)
      Wan2.2-TI2V-5B-Diffusers/vae/                      Wan-AI/Wan2.2-TI2V-5B-Diffusers, vae/ (AutoencoderKLWan)
      stable-audio-open-1.0/vae/                         stabilityai/stable-audio-open-1.0, vae/ (AutoencoderOobleck)

The distilled profile needs ``distill/``, the base profile ``base/``; the SR
DiTs serve 720p (``540p_sr/``) and 1080p (``1080p_sr/``) outputs. The turbo
decoder is optional and not used by this engine (the Wan 2.2 decoder decodes).
``check`` reads only file names and small JSON files; ``download`` is the one
place that reaches the network, and only when an operator runs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_REPO = "GAIR/daVinci-MagiHuman"
DIT_FOLDERS = {"distilled": "distill", "base": "base", "sr_540p": "540p_sr", "sr_1080p": "1080p_sr"}
TURBO_VAE = "turbo_vae"
TEXT_ENCODER = ("google/t5gemma-9b-9b-ul2", "t5gemma-9b-9b-ul2", None)
VIDEO_VAE = ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", "Wan2.2-TI2V-5B-Diffusers", "vae")
AUDIO_VAE = ("stabilityai/stable-audio-open-1.0", "stable-audio-open-1.0", "vae")


@dataclass(frozen=True)
class Part:
    """One folder of the layout and whether it is there."""

    name: str
    path: Path
    source: str
    problem: str | None = None
    optional: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class WeightsReport:
    path: Path
    parts: list[Part] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [p.name for p in self.parts if not p.ok and not p.optional]

    @property
    def complete(self) -> bool:
        return not self.missing

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def summary(self) -> str:
        if self.complete:
            return f"{self.path}: complete"
        return f"{self.path}: missing " + "; ".join(
            f"{p.name} ({p.problem})" for p in self.parts if not p.ok and not p.optional)


def _dit_problem(folder: Path) -> str | None:
    if not folder.is_dir():
        return f"no folder {folder.name}/"
    if (folder / "model.safetensors").is_file():
        return None
    indexes = sorted(folder.glob("*.safetensors.index.json"))
    if len(indexes) != 1:
        return f"{folder.name}/ has no model.safetensors nor one *.safetensors.index.json"
    try:
        shards = set(json.loads(indexes[0].read_text())["weight_map"].values())
    except (ValueError, KeyError) as exc:
        return f"{indexes[0].name} is unreadable ({exc})"
    absent = sorted(s for s in shards if not (folder / s).is_file())
    return f"{folder.name}/ lacks shards {', '.join(absent)}" if absent else None


def _diffusers_problem(folder: Path, class_name: str) -> str | None:
    config = folder / "config.json"
    if not config.is_file():
        return f"no {config}"
    try:
        found = json.loads(config.read_text()).get("_class_name")
    except ValueError as exc:
        return f"{config} is unreadable ({exc})"
    if found != class_name:
        return f"{config} is a {found}, not a {class_name}"
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        return f"{folder} has no weights file"
    return None


def _text_problem(folder: Path) -> str | None:
    if not (folder / "config.json").is_file():
        return f"no {folder.name}/config.json"
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        return f"no tokenizer in {folder.name}/"
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.safetensors.index.json")):
        return f"no safetensors weights in {folder.name}/"
    return None


def check_weights(directory: Path | str, *, profile: str | None = None) -> WeightsReport:
    """What ``directory`` holds of the layout. With ``profile``, the other profile's DiT is optional."""
    root = Path(directory).expanduser()
    parts = []
    for name, folder in DIT_FOLDERS.items():
        optional = profile is not None and name in ("distilled", "base") and name != profile
        parts.append(Part(name, root / folder, f"{MODEL_REPO} {folder}/", _dit_problem(root / folder), optional))
    turbo = root / TURBO_VAE
    parts.append(Part("turbo_vae", turbo, f"{MODEL_REPO} {TURBO_VAE}/",
                      None if turbo.is_dir() else "not used: the Wan 2.2 decoder decodes", optional=True))
    repo, folder, _ = TEXT_ENCODER
    parts.append(Part("text_encoder", root / folder, repo, _text_problem(root / folder)))
    for name, (repo, folder, sub), cls in (("video_vae", VIDEO_VAE, "AutoencoderKLWan"),
                                            ("audio_vae", AUDIO_VAE, "AutoencoderOobleck")):
        path = root / folder / sub
        parts.append(Part(name, path, f"{repo} {sub}/", _diffusers_problem(path, cls)))
    if profile is None and (parts[0].ok or parts[1].ok):
        # One profile's DiT is enough to serve; the other is then optional.
        parts[0:2] = [p if p.ok else Part(p.name, p.path, p.source, p.problem, optional=True) for p in parts[0:2]]
    return WeightsReport(root, parts)


Downloader = Callable[..., Any]


def download_weights(directory: Path | str, *, profiles: tuple[str, ...] = ("distilled",), sr: bool = True,
                     turbo_vae: bool = False, token: str | None = None,
                     download: Downloader | None = None) -> WeightsReport:
    """Fetch the layout into ``directory`` with ``huggingface_hub.snapshot_download`` (or ``download``,
    called with the same keyword arguments), then check it. Needs internet; the gated repositories
    (T5Gemma, Stable Audio Open) need a token whose account accepted their terms."""
    unknown = sorted(set(profiles) - {"distilled", "base"})
    if unknown or not profiles:
        raise ValueError(f"profiles must be distilled and/or base, got {', '.join(profiles) or 'none'}")
    if download is None:
        from huggingface_hub import snapshot_download as download
    root = Path(directory).expanduser()
    patterns = [f"{DIT_FOLDERS[p]}/*" for p in profiles]
    if sr:
        patterns += [f"{DIT_FOLDERS['sr_540p']}/*", f"{DIT_FOLDERS['sr_1080p']}/*"]
    if turbo_vae:
        patterns.append(f"{TURBO_VAE}/*")
    download(repo_id=MODEL_REPO, local_dir=str(root), allow_patterns=patterns, token=token)
    repo, folder, _ = TEXT_ENCODER
    download(repo_id=repo, local_dir=str(root / folder), allow_patterns=None, token=token)
    for repo, folder, sub in (VIDEO_VAE, AUDIO_VAE):
        download(repo_id=repo, local_dir=str(root / folder), allow_patterns=[f"{sub}/*"], token=token)
    return check_weights(root)
