"""The ``magihuman`` engine's operator options (no torch here: a typo fails at start-up in a second).

The CLI reaches them through the engine options of ``serve`` and ``worker``
(``--weights``, ``--profile``, ``--steps``, ``--device``, ``--dtype``,
``--cpu-offload``, ``--scale``, ``--decode-chunk``); a test or a script
passes them to :class:`~happyhorse.engines.magihuman.engine.MagiHumanEngine`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

Profile = Literal["distilled", "base"]

# Steps per profile and whether it runs classifier-free guidance (the reference's
# example configs: distill 8 steps cfg_number 1, base 32 steps cfg_number 2).
PROFILE_STEPS = {"distilled": 8, "base": 32}
# ``--profile full`` is the ltx2 engine's name for its undistilled profile; it means base here.
PROFILE_ALIASES = {"full": "base"}
DTYPES = ("bfloat16", "float32")
SR_720P = ("540p", "720p")
ATTENTION_BACKENDS = ("sdpa", "flash")  # as dit.ATTENTION_BACKENDS (not imported: that module needs torch)


@dataclass(frozen=True)
class MagiHumanOptions:
    """How one worker runs daVinci-MagiHuman."""

    weights: Path
    """The weights directory in the layout of :mod:`~happyhorse.engines.magihuman.weights`."""
    profile: Profile = "distilled"
    """``distilled``: the DMD-2 DiT, 8 steps without guidance; ``base``: the base DiT, 32 UniPC steps with CFG."""
    steps: int | None = None
    """Base-stage steps; ``None``: the profile's."""
    sr_steps: int = 5
    """Super-resolution steps (the reference's 5)."""
    sr_guidance: bool = False
    """CFG in the SR stage (the reference's ``sr_cfg_number=2``; its examples run without)."""
    sr_720p: str = "540p"
    """720p outputs: ``540p`` runs the 540p SR DiT at its trained size and resizes the frames;
    ``720p`` runs it at 720p-sized latents (outside the size it was trained for)."""
    device: str | None = None
    """``cuda``, ``cuda:1``, ``cpu``...; ``None``: the first GPU, else the CPU."""
    dtype: str | None = None
    """DiT and text-encoder numerics: ``bfloat16`` (the reference's, default on a GPU) or ``float32``."""
    cpu_offload: str = "none"
    """``none``: every model stays on the device; ``model``: the DiTs and the text encoder wait on the CPU
    and move to the device for their stage (what a single 80 GB GPU needs for 1080p)."""
    scale: float = 1.0
    """Generate at this fraction of the published sizes' sides (small GPUs, the CPU tests)."""
    text_length: int = 640
    """Prompt tokens kept (the reference pads or trims T5Gemma's output to 640)."""
    negative_prompt: str = ""
    """The unconditional prompt of CFG (base profile, SR with guidance)."""
    decode_chunk: int = 1
    """Latent frames (4 video frames each) decoded per step of the frame iterator."""
    attention_backend: str = "sdpa"
    """``sdpa``: PyTorch's attention kernels; ``flash``: flash-attn's (CUDA bf16; needs `pip install flash-attn`)."""

    @classmethod
    def parse(cls, weights: Path | str | None, options: Mapping[str, Any]) -> MagiHumanOptions:
        """Options from the CLI or a test; raises ``ValueError`` naming what to change."""
        if weights is None or str(weights) == "":
            raise ValueError("the magihuman engine needs --weights DIR (see `happyhorse weights check --engine "
                             "magihuman DIR` and `happyhorse weights download --engine magihuman DIR`)")
        known = {f.name for f in fields(cls)} - {"weights"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown magihuman option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {k: v for k, v in options.items() if v is not None}
        if "profile" in values:
            values["profile"] = PROFILE_ALIASES.get(values["profile"], values["profile"])
        parsed = cls(weights=Path(weights).expanduser(), **values)
        parsed.validate()
        return parsed

    def validate(self) -> None:
        if self.profile not in PROFILE_STEPS:
            raise ValueError(f"profile must be distilled or base, got {self.profile!r}")
        if self.steps is not None and self.steps < 1 or self.sr_steps < 1:
            raise ValueError(f"steps and sr_steps must be at least 1, got {self.steps} and {self.sr_steps}")
        if self.sr_720p not in SR_720P:
            raise ValueError(f"sr_720p must be 540p or 720p, got {self.sr_720p!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.cpu_offload not in ("none", "model"):
            raise ValueError(f"cpu_offload must be none or model, got {self.cpu_offload!r}")
        if not 0 < self.scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        if self.text_length < 1 or self.decode_chunk < 1:
            raise ValueError("text_length and decode_chunk must be at least 1")
        if self.attention_backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention_backend must be sdpa or flash, got {self.attention_backend!r}")
        if self.attention_backend == "flash" and importlib.util.find_spec("flash_attn") is None:
            raise ValueError("attention_backend flash needs the flash-attn package (pip install flash-attn), "
                             "which is not installed; use sdpa")

    @property
    def num_steps(self) -> int:
        return self.steps if self.steps is not None else PROFILE_STEPS[self.profile]

    @property
    def guided(self) -> bool:
        """Whether the base stage runs CFG (the base profile; the distilled DiT is trained without)."""
        return self.profile == "base"
