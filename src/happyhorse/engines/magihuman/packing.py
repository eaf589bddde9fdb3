"""Packing video, audio and text latents into the DiT's one token sequence, and back.

Public API::

    cfg = PackingConfig(frame_receptive_field=11, coords_style="v2")
    packed = pack(video, audio, text, config=cfg)   # -> Packed
    out = dit(packed)                               # [S, max(video_in, audio_in)]
    video, audio = unpack(out, packed)              # [1, C, T, H, W], [1, A, 64]

``video`` is ``[1, C, T, H, W]`` (for TI2V, pin the image first with
``pin_first_frame``), ``audio`` ``[1, A, 64]``, ``text`` ``[1, L, C_txt]``;
``audio_len`` / ``text_len`` keep only the first rows. The sequence is
``[video | audio | text]`` with batch size 1.

Channel orders differ on the way in and out, as in the reference: a video
token is read as ``(C, pT, pH, pW)`` (C slowest) when packing and as
``(pT, pH, pW, C)`` (C fastest) when unpacking, so ``unpack(pack(v))`` is not
``v``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from happyhorse.engines.magihuman.config import MODALITY_AUDIO, MODALITY_TEXT, MODALITY_VIDEO

if TYPE_CHECKING:
    import torch

__all__ = ["AttentionBlock", "Packed", "PackingConfig", "pack", "pin_first_frame", "unpack"]


@dataclass(frozen=True)
class PackingConfig:
    """How latents become tokens (the reference ``DataProxyConfig`` fields that matter).

    ``coords_style`` is ``"v2"`` for the base and distilled models and ``"v1"``
    for the super-resolution model; ``frame_receptive_field`` is how many
    latent frames each side a video token sees in local-attention layers.
    """

    t_patch_size: int = 1
    patch_size: int = 2
    frame_receptive_field: int = 11
    coords_style: Literal["v1", "v2"] = "v2"


@dataclass(frozen=True)
class Packed:
    """One packed sequence ``[video | audio | text]`` and what the DiT and ``unpack`` need.

    ``x`` is ``[S, max(C_video_tok, C_audio, C_text)]`` zero-padded on the
    right; ``coords`` ``[S, 9]`` float32 is (t, h, w, T, H, W, ref_T, ref_H,
    ref_W); ``modality`` ``[S]`` int64; ``local_q_ranges`` / ``local_k_ranges``
    ``[n, 2]`` int32 say which ``[start, end)`` keys each query range sees in
    local-attention layers (``local_attention_blocks`` groups them for the DiT).
    """

    x: torch.Tensor
    coords: torch.Tensor
    modality: torch.Tensor
    local_q_ranges: torch.Tensor
    local_k_ranges: torch.Tensor
    video_shape: tuple[int, int, int, int]  # latent (C, T, H, W)
    num_audio: int
    num_text: int
    t_patch_size: int = 1
    patch_size: int = 2

    @property
    def num_video(self) -> int:
        _, t, h, w = self.video_shape
        return (t // self.t_patch_size) * (h // self.patch_size) * (w // self.patch_size)

    @property
    def video_token_channels(self) -> int:
        return self.video_shape[0] * self.t_patch_size * self.patch_size**2

    @property
    def seq_len(self) -> int:
        return self.num_video + self.num_audio + self.num_text

    def with_x(self, x: torch.Tensor) -> Packed:
        """The same layout with another token tensor (e.g. the next denoising step's)."""
        return _replace(self, x=x)

    def local_attention_blocks(self) -> list[AttentionBlock]:
        """Local layers' attention as query blocks, each with the sorted, disjoint key ranges it sees.

        The query axis is cut wherever a query range starts or ends; a piece
        sees the union of the key ranges of every query range covering it,
        and neighbouring pieces that see the same keys are joined. Attending
        each block over its keys alone is the masked softmax of
        :meth:`local_attention_mask` without building it: a video frame sees
        one video window plus the audio+text tail, audio+text see everything.
        """
        q_ranges, k_ranges = self.local_q_ranges.tolist(), self.local_k_ranges.tolist()
        cuts = sorted({edge for q in q_ranges for edge in q})
        blocks: list[AttentionBlock] = []
        for q0, q1 in zip(cuts, cuts[1:], strict=False):
            keys = _merge([k for q, k in zip(q_ranges, k_ranges, strict=True) if q[0] <= q0 and q1 <= q[1]])
            if not keys:
                raise ValueError(f"local attention: queries [{q0}, {q1}) see no key")
            if blocks and blocks[-1][1] == keys and blocks[-1][0][1] == q0:
                blocks[-1] = ((blocks[-1][0][0], q1), keys)
            else:
                blocks.append(((q0, q1), keys))
        return blocks

    def local_attention_mask(self) -> torch.Tensor:
        """``[S, S]`` bool, True where query row may attend key column in local layers.

        The dense form of the ranges, for tests only: at full size it is
        gigabytes, and the DiT uses :meth:`local_attention_blocks` instead.
        """
        import torch

        s = self.seq_len
        mask = torch.zeros(s, s, dtype=torch.bool, device=self.x.device)
        for (q0, q1), (k0, k1) in zip(self.local_q_ranges.tolist(), self.local_k_ranges.tolist(), strict=True):
            mask[q0:q1, k0:k1] = True
        return mask


# One local-attention block: a query range ``(start, end)`` and the key ranges it attends.
AttentionBlock = tuple[tuple[int, int], tuple[tuple[int, int], ...]]


def _merge(ranges: list[list[int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, disjoint ``[start, end)`` ranges covering the same positions (empty ones dropped)."""
    merged: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)


def _replace(packed: Packed, **changes: object) -> Packed:
    import dataclasses

    return dataclasses.replace(packed, **changes)


def pin_first_frame(video: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """TI2V: a copy of ``video`` ``[1, C, T, H, W]`` with latent frame 0 set to ``image`` ``[1, C, 1, H, W]``."""
    out = video.clone()
    out[:, :, :1] = image.to(out.dtype)
    return out


def pack(
    video: torch.Tensor,
    audio: torch.Tensor,
    text: torch.Tensor,
    *,
    audio_len: int | None = None,
    text_len: int | None = None,
    config: PackingConfig = PackingConfig(),
) -> Packed:
    """Lay ``video`` [1,C,T,H,W], ``audio`` [1,A,Ca], ``text`` [1,L,Ct] out as one sequence."""
    import torch

    if video.shape[0] != 1 or audio.shape[0] != 1 or text.shape[0] != 1:
        raise ValueError("packing takes batch size 1")
    audio_rows = audio[0, : audio.shape[1] if audio_len is None else int(audio_len)]
    text_rows = text[0, : text.shape[1] if text_len is None else int(text_len)]
    video_rows = _patchify(video, config)
    _, c, t, h, w = video.shape
    grid = (t // config.t_patch_size, h // config.patch_size, w // config.patch_size)

    width = max(video_rows.shape[1], audio_rows.shape[1], text_rows.shape[1])
    x = torch.cat([_pad(r, width) for r in (video_rows, audio_rows, text_rows)]).to(video.dtype)
    n_v, n_a, n_t = video_rows.shape[0], audio_rows.shape[0], text_rows.shape[0]
    modality = torch.cat(
        [torch.full((n,), m, dtype=torch.int64) for n, m in
         ((n_v, MODALITY_VIDEO), (n_a, MODALITY_AUDIO), (n_t, MODALITY_TEXT))]
    ).to(video.device)
    coords = torch.cat(
        [_video_coords(grid), _audio_coords(n_a, grid[0], config), _text_coords(n_t, config)]
    ).to(video.device)
    q_ranges, k_ranges = _local_ranges(grid, n_a + n_t, config.frame_receptive_field)
    return Packed(
        x=x,
        coords=coords,
        modality=modality,
        local_q_ranges=q_ranges.to(video.device),
        local_k_ranges=k_ranges.to(video.device),
        video_shape=(c, t, h, w),
        num_audio=n_a,
        num_text=n_t,
        t_patch_size=config.t_patch_size,
        patch_size=config.patch_size,
    )


def unpack(output: torch.Tensor, packed: Packed) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the DiT's ``[S, >=C_video_tok]`` output into video ``[1,C,T,H,W]`` and audio ``[1,A,Ca]``.

    Video token channels are read as ``(pT, pH, pW, C)``, C fastest; the audio
    rows are taken as they are, at the audio width (64 channels).
    """
    c, t, h, w = packed.video_shape
    pt, p = packed.t_patch_size, packed.patch_size
    gt, gh, gw = t // pt, h // p, w // p
    n_v = packed.num_video
    video_rows = output[:n_v, : packed.video_token_channels]
    video = (
        video_rows.reshape(gt, gh, gw, pt, p, p, c)
        .permute(6, 0, 3, 1, 4, 2, 5)
        .reshape(1, c, t, h, w)
    )
    audio = output[n_v : n_v + packed.num_audio, :_AUDIO_CHANNELS].unsqueeze(0)
    return video, audio


# The reference pipeline hard-codes 64 audio latent channels.
_AUDIO_CHANNELS = 64


def _patchify(video: torch.Tensor, config: PackingConfig) -> torch.Tensor:
    """``[1,C,T,H,W]`` -> ``[T'·H'·W', C·pT·pH·pW]``, tokens t-major then h then w, channels C slowest."""
    _, c, t, h, w = video.shape
    pt, p = config.t_patch_size, config.patch_size
    if t % pt or h % p or w % p:
        raise ValueError(f"latent {tuple(video.shape)} does not divide into ({pt},{p},{p}) patches")
    return (
        video[0]
        .reshape(c, t // pt, pt, h // p, p, w // p, p)
        .permute(1, 3, 5, 0, 2, 4, 6)
        .reshape((t // pt) * (h // p) * (w // p), c * pt * p * p)
    )


def _pad(rows: torch.Tensor, width: int) -> torch.Tensor:
    import torch.nn.functional as F

    return F.pad(rows, (0, width - rows.shape[1]))


def _video_coords(grid: tuple[int, int, int]) -> torch.Tensor:
    import torch

    t, h, w = grid
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([tt, hh, ww], dim=-1).reshape(-1, 3).float()
    size = torch.tensor([t, h, w], dtype=torch.float32).expand(pos.shape[0], 3)
    return torch.cat([pos, size, size], dim=1)


def _audio_coords(n: int, video_frames: int, config: PackingConfig) -> torch.Tensor:
    ref_t = video_frames if config.coords_style == "v1" else (n - 1) // 4 + 1
    return _line_coords(range(n), (n, 1, 1), (ref_t, 1, 1))


def _text_coords(n: int, config: PackingConfig) -> torch.Tensor:
    if config.coords_style == "v1":
        return _line_coords(range(n), (n, 1, 1), (2, 1, 1))
    return _line_coords(range(-n, 0), (n, 1, 1), (1, 1, 1))


def _line_coords(ts: range, size: tuple[int, int, int], ref: tuple[int, int, int]) -> torch.Tensor:
    import torch

    n = len(ts)
    pos = torch.zeros(n, 3)
    pos[:, 0] = torch.tensor(list(ts), dtype=torch.float32)
    tail = torch.tensor([*size, *ref], dtype=torch.float32).expand(n, 6)
    return torch.cat([pos, tail], dim=1)


def _local_ranges(
    grid: tuple[int, int, int], num_other: int, receptive_field: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Query/key ranges: each video frame sees frames ±f; video also sees audio+text; those see all."""
    import torch

    t, h, w = grid
    n = h * w
    n_v = t * n
    total = n_v + num_other
    q = [[i * n, (i + 1) * n] for i in range(t)]
    k = [[max(0, i - receptive_field) * n, min(t, i + receptive_field + 1) * n] for i in range(t)]
    q += [[0, n_v], [n_v, total]]
    k += [[n_v, total], [0, total]]
    return torch.tensor(q, dtype=torch.int32), torch.tensor(k, dtype=torch.int32)
