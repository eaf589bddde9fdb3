"""The DiT's architecture, under the reference ``ModelConfig`` field names.

``DiTConfig.from_dict(d)`` reads an ``arch_config`` mapping as the reference
writes it (unknown keys such as ``tread_config`` or ``params_dtype`` are
ignored: they change nothing at inference). ``DiTConfig.real()`` is the
published 15.3B model; ``DiTConfig.real(sr_1080p=True)`` its 1080p
super-resolution twin (local attention in all layers but 3, 7, ..., 31).

Derived sizes (``qkv_out``, ``swiglu7_width`` ...) are properties, computed as
the reference derives them, so a config never disagrees with itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DiTConfig", "MODALITY_AUDIO", "MODALITY_TEXT", "MODALITY_VIDEO", "NUM_MODALITIES"]

# Modality ids as the reference's ``sequence_schema`` numbers them; they are
# also the expert index inside every modality-specific norm and linear.
MODALITY_VIDEO = 0
MODALITY_AUDIO = 1
MODALITY_TEXT = 2
NUM_MODALITIES = 3

_SR_1080P_GLOBAL_LAYERS = frozenset(range(3, 32, 4))


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of one daVinci-MagiHuman DiT (defaults: the published model)."""

    num_layers: int = 40
    hidden_size: int = 5120
    head_dim: int = 128
    num_query_groups: int = 8
    video_in_channels: int = 192
    audio_in_channels: int = 64
    text_in_channels: int = 3584
    mm_layers: tuple[int, ...] = (0, 1, 2, 3, 36, 37, 38, 39)
    local_attn_layers: tuple[int, ...] = ()
    enable_attn_gating: bool = True
    activation_type: str = "swiglu7"
    gelu7_layers: tuple[int, ...] = (0, 1, 2, 3)
    post_norm_layers: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.hidden_size % self.head_dim:
            raise ValueError("hidden_size must be a multiple of head_dim")
        if self.num_heads_q % self.num_query_groups:
            raise ValueError("query heads must be a multiple of num_query_groups")
        if self.head_dim % 8:
            raise ValueError("head_dim must be a multiple of 8 (rotary bands)")
        if self.activation_type not in ("swiglu7", "gelu7"):
            raise ValueError(f"unknown activation_type {self.activation_type!r}")
        if self.post_norm_layers:
            raise NotImplementedError("post_norm_layers is empty in every published config")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiTConfig:
        """Build from a reference ``arch_config`` mapping; keys we do not model are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in names:
                kwargs[key] = tuple(value) if isinstance(value, list) else value
        config = cls(**kwargs)
        # The reference derives the head counts; a file that states them must agree.
        for key, derived in (("num_heads_q", config.num_heads_q), ("num_heads_kv", config.num_heads_kv)):
            if key in data and int(data[key]) != derived:
                raise ValueError(f"{key}={data[key]} disagrees with the derived {derived}")
        return config

    @classmethod
    def real(cls, *, sr_1080p: bool = False) -> DiTConfig:
        """The published full-size DiT; with ``sr_1080p`` the 1080p SR stage's local layers."""
        config = cls()
        if sr_1080p:
            local = tuple(i for i in range(config.num_layers) if i not in _SR_1080P_GLOBAL_LAYERS)
            config = dataclasses.replace(config, local_attn_layers=local)
        return config

    @property
    def num_heads_q(self) -> int:
        return self.hidden_size // self.head_dim

    @property
    def num_heads_kv(self) -> int:
        return self.num_query_groups

    @property
    def qkv_out(self) -> int:
        """Width of ``linear_qkv`` per modality: q, k, v, then one gate per query head."""
        gate = self.num_heads_q if self.enable_attn_gating else 0
        return (self.num_heads_q + 2 * self.num_heads_kv) * self.head_dim + gate

    @property
    def rope_bands(self) -> int:
        """Rotary frequency bands per axis (t, h, w)."""
        return self.head_dim // 8

    @property
    def rotary_dims(self) -> int:
        """Leading dims of each head that rotate (two halves of three axes' bands)."""
        return 6 * self.rope_bands

    @property
    def gelu7_width(self) -> int:
        return 4 * self.hidden_size

    @property
    def swiglu7_width(self) -> int:
        return int(8 * self.hidden_size / 3) // 4 * 4

    def activation(self, layer: int) -> str:
        return "gelu7" if layer in self.gelu7_layers else self.activation_type

    def mlp_width(self, layer: int) -> int:
        return self.gelu7_width if self.activation(layer) == "gelu7" else self.swiglu7_width

    def experts(self, layer: int) -> int:
        """How many stacked experts each norm and linear of ``layer`` has (3 or 1)."""
        return NUM_MODALITIES if layer in self.mm_layers else 1
