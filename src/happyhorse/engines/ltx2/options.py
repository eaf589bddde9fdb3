"""The ``ltx2`` engine's operator options, their profiles, and the check for its packages.

No torch here: options are parsed and checked before anything heavy is
imported, so a typo fails at start-up in a second, not after loading 40 GB.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

INSTALL_HINT = "pip install 'happyhorse[diffusion]'"
DIFFUSION_MODULES = ("torch", "diffusers", "transformers", "accelerate", "safetensors")

Profile = Literal["full", "distilled"]
CpuOffload = Literal["none", "model", "sequential"]
TwoStage = Literal["auto", "on", "off"]

# Step count and guidance per profile. "full" is diffusers' LTX2Pipeline default
# (30 steps, CFG 3 plus its audio/STG/modality guidance) for the dev weights;
# "distilled" is the published 8-step schedule of the distilled weights, which
# are trained to run without guidance (one transformer pass per step).
PROFILE_STEPS = {"full": 30, "distilled": 8}
PROFILE_GUIDANCE = {"full": 3.0, "distilled": 1.0}
DTYPES = ("bfloat16", "float16", "float32")
# The step cache of diffusers 0.42.1 that runs with LTX-2: First-Block-Cache and
# SeaCache raise "LTX2VideoTransformerBlock not registered", and pyramid attention
# broadcast breaks when the guidance passes differ in batch size (CFG vs STG).
CACHE_KINDS = ("taylorseer",)


class EngineUnavailable(RuntimeError):
    """The engine's packages are not installed; the message says what to install."""


@dataclass(frozen=True)
class LTX2Options:
    """How one worker runs LTX-2. Every field has a CLI flag (``happyhorse worker --help``)."""

    weights: Path
    """A diffusers-format LTX-2 directory (``model_index.json`` + component folders)."""
    device: str | None = None
    """``cuda``, ``cuda:1``, ``cpu``...; ``None``: the first GPU if there is one, else the CPU."""
    dtype: str | None = None
    """``bfloat16`` / ``float16`` / ``float32``; ``None``: bfloat16 on a GPU, float32 on the CPU."""
    profile: Profile = "full"
    steps: int | None = None
    """Denoising steps; ``None``: the profile's (30 full, 8 distilled)."""
    guidance: float | None = None
    """Video CFG scale; ``None``: the profile's. At 1 or below every guidance term is off."""
    cpu_offload: CpuOffload = "none"
    """``model``: components move to the GPU one at a time; ``sequential``: layer by layer (slowest, least memory)."""
    vae_tiling: bool = False
    """Decode the video in tiles (needed for 1080p on most GPUs)."""
    attention_backend: str | None = None
    """A diffusers attention backend (``flash``, ``_flash_3``, ``sage``...); ``*_hub`` ones are refused (they download)."""
    cache: str | None = None
    """Step cache (diffusers' ``enable_cache``): ``taylorseer[:interval]`` (full steps every ``interval``)."""
    compile: bool = False
    """``torch.compile`` the transformer's repeated blocks (slow first job, faster steps after)."""
    scale: float = 1.0
    """Generate at this fraction of the output's sides, then upscale (small GPUs; the CPU tests)."""
    max_sequence_length: int = 1024
    """Prompt tokens given to the text encoder."""
    negative_prompt: str | None = None
    """``None``: diffusers' LTX-2 default negative prompt (used only with guidance)."""
    ic_lora: Path | None = None
    """An IC-LoRA (``.safetensors`` file or folder) applied to r2v jobs only."""
    ic_lora_scale: float = 1.0
    reference_strength: float = 1.0
    """How clean reference tokens look to the model (1: fully clean)."""
    reference_downscale: int = 1
    """References are encoded at 1/N of the output's sides (as some IC-LoRAs are trained)."""
    two_stage: TwoStage = "auto"
    """Generate at half size, upsample the latents, refine with 3 distilled steps at full size (how
    LTX-2.x reaches 1080p). ``auto``: outputs of 1080p and up, on the ``distilled`` profile, when a
    latent upsampler is found; ``on``: every job (a missing upsampler fails at start-up); ``off``: never."""
    upsampler: Path | None = None
    """The latent upsampler: an ``LTX2LatentUpsamplerModel`` folder (``config.json`` + weights), or a
    repository holding one in ``latent_upsampler/``; ``None``: ``WEIGHTS/latent_upsampler`` when present."""
    decode_chunk: int = 8
    """Latent frames (8 video frames each) decoded at a time: host memory grows with this, not the clip."""
    decode_context: int = 2
    """Latent frames decoded on each side of a chunk and dropped, so its edge frames see their neighbours."""

    @classmethod
    def parse(cls, weights: Path | str | None, options: Mapping[str, Any]) -> LTX2Options:
        """Options from the CLI or a test; raises ``ValueError`` naming what to change."""
        if weights is None or str(weights) == "":
            raise ValueError("the ltx2 engine needs --weights DIR (a diffusers-format LTX-2 directory; "
                             "see `happyhorse weights check` and `happyhorse weights download`)")
        known = {f.name for f in fields(cls)} - {"weights"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown ltx2 option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {k: v for k, v in options.items() if v is not None}
        for key in ("ic_lora", "upsampler"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        parsed = cls(weights=Path(weights).expanduser(), **values)
        parsed.validate()
        return parsed

    def validate(self) -> None:
        if self.profile not in PROFILE_STEPS:
            raise ValueError(f"profile must be one of {', '.join(PROFILE_STEPS)}, got {self.profile!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.cpu_offload not in ("none", "model", "sequential"):
            raise ValueError(f"cpu_offload must be none, model or sequential, got {self.cpu_offload!r}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0 < self.scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        if self.reference_downscale < 1:
            raise ValueError(f"reference_downscale must be at least 1, got {self.reference_downscale}")
        if self.two_stage not in ("auto", "on", "off"):
            raise ValueError(f"two_stage must be auto, on or off, got {self.two_stage!r}")
        if self.upsampler is not None and not self.upsampler.exists():
            raise ValueError(f"upsampler {str(self.upsampler)!r} does not exist")
        if self.decode_chunk < 1 or self.decode_context < 0:
            raise ValueError(f"decode_chunk must be at least 1 and decode_context at least 0, "
                             f"got {self.decode_chunk} and {self.decode_context}")
        if self.attention_backend and "hub" in self.attention_backend:
            raise ValueError(f"attention backend {self.attention_backend!r} downloads kernels from the Hub at run "
                             "time; install the kernel package and use the local backend (e.g. flash, _flash_3, sage)")
        if self.cache is not None:
            self.cache_spec()
        if self.ic_lora is not None and not self.ic_lora.exists():
            raise ValueError(f"ic_lora {str(self.ic_lora)!r} does not exist")

    @property
    def num_steps(self) -> int:
        return self.steps if self.steps is not None else PROFILE_STEPS[self.profile]

    @property
    def distilled_schedule(self) -> bool:
        """Whether calls run diffusers' 8 published distilled sigmas: the ``distilled`` profile at its own step count."""
        return self.profile == "distilled" and self.num_steps == PROFILE_STEPS["distilled"]

    @property
    def guidance_scale(self) -> float:
        return self.guidance if self.guidance is not None else PROFILE_GUIDANCE[self.profile]

    def cache_spec(self) -> tuple[str, float | None]:
        """``(kind, parameter)`` of :attr:`cache`; raises ``ValueError`` for an unknown one."""
        kind, _, value = (self.cache or "").partition(":")
        if kind not in CACHE_KINDS:
            raise ValueError(f"cache must be one of {', '.join(CACHE_KINDS)} (optionally :value), got {self.cache!r}")
        try:
            return kind, float(value) if value else None
        except ValueError:
            raise ValueError(f"cache parameter must be a number, got {value!r}") from None


def require_diffusion() -> None:
    """Import the ``diffusion`` extra's packages; raise :class:`EngineUnavailable` naming what is missing."""
    missing = []
    for module in DIFFUSION_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise EngineUnavailable(
            f"the ltx2 engine needs the 'diffusion' extra, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}"
        )
