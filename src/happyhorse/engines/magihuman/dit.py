"""The daVinci-MagiHuman DiT: one single-stream transformer over video, audio and text tokens.

Public API::

    dit = MagiDiT(DiTConfig(...), compute_dtype=torch.float32)   # or torch.bfloat16
    out = dit(packed)          # packed: packing.Packed -> [S, max(video_in, audio_in)]
    dit.set_attention_backend("flash")   # flash-attn's kernels where installed; "sdpa" (default) otherwise

No timestep input. Block linear weights are kept in bf16 like the published
checkpoint; ``compute_dtype=torch.bfloat16`` reproduces the reference numerics
(block linears and attention inputs in bf16), ``torch.float32`` upcasts them
exactly and runs everything in fp32.

Attention never builds a mask: global layers call the kernel over the whole
sequence, local layers once per block of queries over the keys that block
sees (``Packed.local_attention_blocks``), and GQA never repeats K/V.
"""

from __future__ import annotations

import importlib.util
import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from happyhorse.engines.magihuman.config import (
    MODALITY_AUDIO,
    MODALITY_TEXT,
    MODALITY_VIDEO,
    NUM_MODALITIES,
    DiTConfig,
)

if TYPE_CHECKING:
    from happyhorse.engines.magihuman.packing import AttentionBlock, Packed

__all__ = ["ATTENTION_BACKENDS", "MagiDiT", "attention", "rope_table"]

# ``sdpa``: PyTorch's scaled_dot_product_attention; ``flash``: flash-attn's kernel
# for CUDA bf16/fp16 inputs (SDPA for any other input).
ATTENTION_BACKENDS = ("sdpa", "flash")

_EPS = 1e-6
# Both activations clamp at 7 and use the sigmoid approximation of GELU.
_CLAMP = 7.0
_GELU_SIGMOID = 1.702
_ROPE_BASE = 10000.0


class _Routes:
    """Which rows of the sequence belong to each modality (slices when contiguous, as packing makes them)."""

    def __init__(self, modality: torch.Tensor) -> None:
        self.parts: list[tuple[int, slice | torch.Tensor]] = []
        for m in range(NUM_MODALITIES):
            idx = (modality == m).nonzero().flatten()
            if idx.numel() == 0:
                continue
            first, last = int(idx[0]), int(idx[-1])
            rows: slice | torch.Tensor = slice(first, last + 1) if last - first + 1 == idx.numel() else idx
            self.parts.append((m, rows))


class _ExpertParam(nn.Module):
    """Base for weights stacked as ``experts`` blocks along dim 0, one per modality in mm layers."""

    weight: nn.Parameter
    experts: int

    def _apply_per_expert(self, x: torch.Tensor, routes: _Routes, fn) -> torch.Tensor:
        if self.experts == 1:
            return fn(x, 0)
        pieces = [(rows, fn(x[rows], m)) for m, rows in routes.parts]
        first = pieces[0][1]
        out = first.new_empty((x.shape[0], *first.shape[1:]))
        for rows, y in pieces:
            out[rows] = y
        return out


class ExpertRMSNorm(_ExpertParam):
    """RMSNorm in fp32, applied as ``x̂·(1+w)`` (zero weight = identity), over the last dim."""

    def __init__(self, dim: int, experts: int = 1) -> None:
        super().__init__()
        self.dim, self.experts = dim, experts
        self.weight = nn.Parameter(torch.zeros(experts * dim, dtype=torch.float32))

    def norm(self, x: torch.Tensor, expert: int) -> torch.Tensor:
        w = self.weight[expert * self.dim : (expert + 1) * self.dim].float()
        xf = x.float()
        return xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + _EPS) * (1.0 + w)

    def forward(self, x: torch.Tensor, routes: _Routes) -> torch.Tensor:
        return self._apply_per_expert(x, routes, self.norm)


class ExpertLinear(_ExpertParam):
    """A bias-free linear with one ``[out, in]`` block per expert, computed in ``compute_dtype``."""

    def __init__(self, in_features: int, out_features: int, experts: int = 1, *, dtype: torch.dtype) -> None:
        super().__init__()
        self.in_features, self.out_features, self.experts = in_features, out_features, experts
        self.weight = nn.Parameter(torch.empty(experts * out_features, in_features, dtype=dtype))
        self.compute_dtype = torch.float32

    def linear(self, x: torch.Tensor, expert: int) -> torch.Tensor:
        w = self.weight[expert * self.out_features : (expert + 1) * self.out_features]
        dtype = self.compute_dtype
        if dtype == torch.float32 or x.device.type == "cuda":
            return F.linear(x.to(dtype), w.to(dtype))
        # bf16 on a CPU: round the operands, accumulate in fp32 and round once,
        # as GPU kernels (and the reference's numbers) do; CPU bf16 kernels round differently.
        return F.linear(x.to(dtype).float(), w.to(dtype).float()).to(dtype)

    def forward(self, x: torch.Tensor, routes: _Routes) -> torch.Tensor:
        return self._apply_per_expert(x, routes, self.linear)


def rope_table(coords: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
    """Rotary table ``[S, 6·nb]`` = cat(sin, cos) of the ``[S, 3, nb]`` angles, axis-major.

    Per axis, positions are scaled by (ref−1)/(size−1) (1 when the size is 1)
    so that a grid of any size spans its reference extent; h and w are
    centred on the grid's middle, t is not.
    """
    coords = coords.float()
    pos, size, ref = coords[:, 0:3], coords[:, 3:6], coords[:, 6:9]
    scale = torch.where(size > 1, (ref - 1) / (size - 1).clamp(min=1), torch.ones_like(size))
    centre = (size - 1) / 2
    centre[:, 0] = 0.0
    angles = ((pos - centre) * scale).unsqueeze(-1) * bands.float()  # [S, 3, nb]
    return torch.cat([angles.sin().flatten(1), angles.cos().flatten(1)], dim=1)


def _apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``6·nb`` dims of each head ``x`` [S, H, D] in rotate-half style (fp32)."""
    half = table.shape[1] // 2  # 3·nb angles
    sin = table[:, None, :half].repeat(1, 1, 2)
    cos = table[:, None, half:].repeat(1, 1, 2)
    rot, rest = x[..., : 2 * half].float(), x[..., 2 * half :].float()
    first, second = rot[..., :half], rot[..., half:]
    rotated = rot * cos + torch.cat([-second, first], dim=-1) * sin
    return torch.cat([rotated, rest], dim=-1)


class Attention(nn.Module):
    """Pre-norm, fused qkv+gate projection, per-head q/k RMSNorm, rotary, GQA SDPA, sigmoid gate, projection."""

    def __init__(self, config: DiTConfig, layer: int, linear_dtype: torch.dtype) -> None:
        super().__init__()
        experts = config.experts(layer)
        self.heads_q, self.heads_kv, self.head_dim = config.num_heads_q, config.num_heads_kv, config.head_dim
        self.gated = config.enable_attn_gating
        self.pre_norm = ExpertRMSNorm(config.hidden_size, experts)
        self.linear_qkv = ExpertLinear(config.hidden_size, config.qkv_out, experts, dtype=linear_dtype)
        self.q_norm = ExpertRMSNorm(config.head_dim, experts)
        self.k_norm = ExpertRMSNorm(config.head_dim, experts)
        self.linear_proj = ExpertLinear(self.heads_q * self.head_dim, config.hidden_size, experts, dtype=linear_dtype)
        self.backend = "sdpa"

    def forward(
        self, x: torch.Tensor, routes: _Routes, rope: torch.Tensor, blocks: list[AttentionBlock] | None
    ) -> torch.Tensor:
        s, d = x.shape[0], self.head_dim
        qkv = self.linear_qkv(self.pre_norm(x, routes), routes).float()
        nq, nkv = self.heads_q * d, self.heads_kv * d
        q = qkv[:, :nq].reshape(s, self.heads_q, d)
        k = qkv[:, nq : nq + nkv].reshape(s, self.heads_kv, d)
        v = qkv[:, nq + nkv : nq + 2 * nkv].reshape(s, self.heads_kv, d)
        q = _apply_rope(self.q_norm(q, routes), rope)
        k = _apply_rope(self.k_norm(k, routes), rope)
        out = attention(q, k, v, dtype=self.linear_proj.compute_dtype, blocks=blocks,
                        backend=self.backend)  # [S, Hq, D]
        if self.gated:
            gate = qkv[:, nq + 2 * nkv :]
            out = out * torch.sigmoid(gate).unsqueeze(-1)
        return self.linear_proj(out.reshape(s, nq), routes).float()


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    dtype: torch.dtype,
    blocks: list[AttentionBlock] | None = None,
    backend: str = "sdpa",
) -> torch.Tensor:
    """Bidirectional GQA softmax attention over ``[S, H, D]`` tensors, scale ``1/sqrt(D)``.

    ``blocks`` (local layers): each query block attends only its key ranges,
    gathered as one contiguous tensor, which equals the masked softmax; no
    mask is built. ``None``: every query attends every key. Inputs are
    rounded to ``dtype`` as the reference rounds them.
    """
    q, k, v = (t.to(dtype) for t in (q, k, v))
    if blocks is None:
        return _attend(q, k, v, backend)
    out = torch.empty_like(q)
    for (q0, q1), keys in blocks:
        out[q0:q1] = _attend(q[q0:q1], _gather(k, keys), _gather(v, keys), backend)
    return out


def _gather(x: torch.Tensor, ranges: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """The rows of ``x`` in ``ranges`` (a view when there is one range)."""
    if len(ranges) == 1:
        return x[ranges[0][0] : ranges[0][1]]
    return torch.cat([x[start:end] for start, end in ranges])


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str) -> torch.Tensor:
    """Unmasked attention of ``[Sq, Hq, D]`` queries over ``[Sk, Hkv, D]`` keys and values.

    With SDPA, each kv head's group of query heads is folded into the query
    sequence (query head h uses kv head h // (Hq/Hkv)), so K/V are never
    repeated and any fused kernel applies. In bf16 on a GPU SDPA runs
    natively (the kernels accumulate in fp32); on a CPU it runs in fp32 on the
    rounded values and rounds the result, as the reference's contract does.
    """
    if backend == "flash" and q.is_cuda and q.dtype in (torch.float16, torch.bfloat16):
        from flash_attn import flash_attn_func

        return flash_attn_func(q[None], k[None], v[None])[0]
    (sq, hq, d), hkv = q.shape, k.shape[1]
    work = q.dtype if q.is_cuda else torch.float32
    qf = q.to(work).permute(1, 0, 2).reshape(1, hkv, (hq // hkv) * sq, d)
    kf, vf = (t.to(work).transpose(0, 1).unsqueeze(0) for t in (k, v))
    out = F.scaled_dot_product_attention(qf, kf, vf)  # [1, Hkv, group·Sq, D]
    return out.reshape(hq, sq, d).transpose(0, 1).to(q.dtype)


class MLP(nn.Module):
    """Pre-norm, up/gate projection, gelu7 or swiglu7, down projection."""

    def __init__(self, config: DiTConfig, layer: int, linear_dtype: torch.dtype) -> None:
        super().__init__()
        experts = config.experts(layer)
        self.activation = config.activation(layer)
        width = config.mlp_width(layer)
        up = width if self.activation == "gelu7" else 2 * width
        self.pre_norm = ExpertRMSNorm(config.hidden_size, experts)
        self.up_gate_proj = ExpertLinear(config.hidden_size, up, experts, dtype=linear_dtype)
        self.down_proj = ExpertLinear(width, config.hidden_size, experts, dtype=linear_dtype)

    def forward(self, x: torch.Tensor, routes: _Routes) -> torch.Tensor:
        h = self.up_gate_proj(self.pre_norm(x, routes), routes).float()
        h = gelu7(h) if self.activation == "gelu7" else swiglu7(h)
        return self.down_proj(h, routes).float()


def gelu7(x: torch.Tensor) -> torch.Tensor:
    """``x·σ(1.702x)`` with x clamped at ≤ 7."""
    x = x.clamp(max=_CLAMP)
    return x * torch.sigmoid(_GELU_SIGMOID * x)


def swiglu7(x: torch.Tensor) -> torch.Tensor:
    """Even columns gate (clamped ≤ 7), odd columns linear (clamped to ±7): ``g·σ(1.702g)·(l+1)``."""
    g = x[..., 0::2].clamp(max=_CLAMP)
    lin = x[..., 1::2].clamp(min=-_CLAMP, max=_CLAMP)
    return g * torch.sigmoid(_GELU_SIGMOID * g) * (lin + 1)


class TransformerLayer(nn.Module):
    def __init__(self, config: DiTConfig, layer: int, linear_dtype: torch.dtype) -> None:
        super().__init__()
        self.local = layer in config.local_attn_layers
        self.attention = Attention(config, layer, linear_dtype)
        self.mlp = MLP(config, layer, linear_dtype)

    def forward(
        self, x: torch.Tensor, routes: _Routes, rope: torch.Tensor, local_blocks: list[AttentionBlock] | None
    ) -> torch.Tensor:
        x = x + self.attention(x, routes, rope, local_blocks if self.local else None)
        return x + self.mlp(x, routes)


class _Block(nn.Module):
    def __init__(self, config: DiTConfig, linear_dtype: torch.dtype) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(config, i, linear_dtype) for i in range(config.num_layers))


class _Rope(nn.Module):
    def __init__(self, head_dim: int) -> None:
        super().__init__()
        nb = head_dim // 8
        self.register_buffer("bands", _ROPE_BASE ** (-torch.arange(nb, dtype=torch.float32) / nb))


class _Adapter(nn.Module):
    """Per-modality input embedders (with bias) on each modality's leading channels, and the rope bands."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.video_embedder = nn.Linear(config.video_in_channels, config.hidden_size, dtype=torch.float32)
        self.text_embedder = nn.Linear(config.text_in_channels, config.hidden_size, dtype=torch.float32)
        self.audio_embedder = nn.Linear(config.audio_in_channels, config.hidden_size, dtype=torch.float32)
        self.rope = _Rope(config.head_dim)

    def embedder(self, modality: int) -> nn.Linear:
        return {MODALITY_VIDEO: self.video_embedder, MODALITY_AUDIO: self.audio_embedder,
                MODALITY_TEXT: self.text_embedder}[modality]

    def forward(self, x: torch.Tensor, routes: _Routes) -> torch.Tensor:
        out = x.new_zeros(x.shape[0], self.video_embedder.out_features, dtype=torch.float32)
        for m, rows in routes.parts:
            emb = self.embedder(m)
            out[rows] = emb(x[rows, : emb.in_features].float())
        return out


class MagiDiT(nn.Module):
    """The DiT. Parameter names and dtypes are those of the reference ``DiTModel.state_dict()``.

    ``compute_dtype`` is how block linears (and attention inputs) compute:
    ``torch.bfloat16`` as the reference does, ``torch.float32`` for an exact
    fp32 run. ``linear_dtype`` is how their weights are stored (bf16 as
    published). Norms, rotary, embedders, final layers and the residual
    stream are always fp32. ``attention_backend`` is one of
    :data:`ATTENTION_BACKENDS` (see :meth:`set_attention_backend`).
    """

    def __init__(
        self,
        config: DiTConfig,
        *,
        compute_dtype: torch.dtype = torch.bfloat16,
        linear_dtype: torch.dtype = torch.bfloat16,
        attention_backend: str = "sdpa",
    ) -> None:
        super().__init__()
        self.config = config
        self.adapter = _Adapter(config)
        self.block = _Block(config, linear_dtype)
        h = config.hidden_size
        self.final_norm_video = _FinalNorm(h)
        self.final_norm_audio = _FinalNorm(h)
        self.final_linear_video = nn.Linear(h, config.video_in_channels, bias=False, dtype=torch.float32)
        self.final_linear_audio = nn.Linear(h, config.audio_in_channels, bias=False, dtype=torch.float32)
        self.set_compute_dtype(compute_dtype)
        self.set_attention_backend(attention_backend)
        self._init_weights()

    @property
    def compute_dtype(self) -> torch.dtype:
        return self._compute_dtype

    def set_compute_dtype(self, dtype: torch.dtype) -> None:
        """Switch block linears and attention between reference bf16 numerics and fp32."""
        if dtype not in (torch.bfloat16, torch.float32):
            raise ValueError(f"compute_dtype must be bfloat16 or float32, not {dtype}")
        self._compute_dtype = dtype
        for module in self.modules():
            if isinstance(module, ExpertLinear):
                module.compute_dtype = dtype

    @property
    def attention_backend(self) -> str:
        return self._attention_backend

    def set_attention_backend(self, backend: str) -> None:
        """``sdpa`` (PyTorch's kernels) or ``flash`` (flash-attn's, for CUDA bf16/fp16; refused if not installed)."""
        if backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention_backend must be one of {', '.join(ATTENTION_BACKENDS)}, not {backend!r}")
        if backend == "flash" and importlib.util.find_spec("flash_attn") is None:
            raise ValueError("attention_backend 'flash' needs the flash-attn package "
                             "(pip install flash-attn), which is not installed; use 'sdpa'")
        self._attention_backend = backend
        for module in self.modules():
            if isinstance(module, Attention):
                module.backend = backend

    def forward(self, packed: Packed, *, hidden_states: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Velocity for every token: ``[S, max(video_in, audio_in)]``, text rows zero.

        ``hidden_states``, when given, receives the adapter output and the
        residual stream after each layer (for bisecting against a reference).
        """
        x = packed.x
        routes = _Routes(packed.modality)
        rope = rope_table(packed.coords.to(x.device), self.adapter.rope.bands)
        local_blocks = packed.local_attention_blocks() if self.config.local_attn_layers else None
        h = self.adapter(x, routes)
        if hidden_states is not None:
            hidden_states.append(h)
        for layer in self.block.layers:
            h = layer(h, routes, rope, local_blocks)
            if hidden_states is not None:
                hidden_states.append(h)
        return self._final(h, routes)

    def _final(self, h: torch.Tensor, routes: _Routes) -> torch.Tensor:
        cfg = self.config
        out = h.new_zeros(h.shape[0], max(cfg.video_in_channels, cfg.audio_in_channels), dtype=torch.float32)
        heads = {MODALITY_VIDEO: (self.final_norm_video, self.final_linear_video),
                 MODALITY_AUDIO: (self.final_norm_audio, self.final_linear_audio)}
        for m, rows in routes.parts:
            if m in heads:
                norm, linear = heads[m]
                out[rows, : linear.out_features] = linear(norm(h[rows]))
        return out

    @torch.no_grad()
    def _init_weights(self) -> None:
        """Small random linears, identity norms: a usable random model (checkpoints overwrite it)."""
        for module in self.modules():
            if isinstance(module, (ExpertLinear, nn.Linear)) and module.weight.device.type != "meta":
                std = 1.0 / math.sqrt(module.weight.shape[1])
                module.weight.normal_(0.0, std)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()


class _FinalNorm(nn.Module):
    """The output heads' RMSNorm (fp32, ``x̂·(1+w)``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + _EPS) * (1.0 + self.weight.float())
