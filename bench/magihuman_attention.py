"""The magihuman DiT's local attention: dense-mask SDPA (before) against query blocks (now), on the CPU.

    .venv/bin/python bench/magihuman_attention.py [--frames 32] [--frame-grid 8 16] [--receptive-field 11]

One local-attention layer's attention (random q/k/v, the real 8:1 GQA ratio
at fewer heads, head dim 128) over ``[video | audio | text]`` with the real
receptive field. "before" builds the ``[S, S]`` mask and passes it to SDPA
with ``enable_gqa`` as the DiT used to; "now" is ``dit.attention`` with
``Packed.local_attention_blocks``. It prints the peak resident memory each
adds and its seconds, the ratios of the two measured in this run, the
largest difference between their outputs, and what the dense mask alone
would weigh at the full-size 1080p 5 s job. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _common import Timer, peak_rss_bytes, reset_peak_rss  # noqa: E402

from happyhorse.engines.magihuman.dit import attention  # noqa: E402
from happyhorse.engines.magihuman.packing import Packed, PackingConfig, pack  # noqa: E402

MIB = 2**20
# The 1080p 5 s job: 32 latent frames of 33×60 tokens, 126 audio frames, 640 text tokens.
FULL_SEQ = 32 * 33 * 60 + 126 + 640
FULL_HEADS_Q = 40


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def dense_mask_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, packed: Packed) -> torch.Tensor:
    """What the DiT did before: one ``[S, S]`` bool mask, SDPA with it and ``enable_gqa``."""
    mask = packed.local_attention_mask()
    q, k, v = (t.transpose(0, 1).unsqueeze(0) for t in (q, k, v))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True).squeeze(0).transpose(0, 1)


def measure(fn) -> tuple[torch.Tensor, int, float]:
    """``fn()``'s result, the peak resident memory it added and its seconds (after one warm-up call)."""
    fn()
    reset_peak_rss()
    before = rss_bytes()
    with Timer() as timer:
        out = fn()
    return out, max(0, peak_rss_bytes() - before), timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=32, help="latent frames (5 s: 32)")
    parser.add_argument("--frame-grid", type=int, nargs=2, default=(8, 16), metavar=("H", "W"),
                        help="video tokens per latent frame, as a grid (1080p: 33 60)")
    parser.add_argument("--receptive-field", type=int, default=11)
    parser.add_argument("--heads", type=int, default=8, help="query heads (real: 40, with 8 kv heads)")
    parser.add_argument("--kv-heads", type=int, default=1)
    parser.add_argument("--head-dim", type=int, default=128)
    args = parser.parse_args()

    height, width = (2 * n for n in args.frame_grid)
    packed = pack(torch.zeros(1, 4, args.frames, height, width), torch.zeros(1, 126, 64), torch.zeros(1, 640, 80),
                  config=PackingConfig(frame_receptive_field=args.receptive_field, coords_style="v1"))
    s = packed.seq_len
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(s, args.heads, args.head_dim, generator=gen)
    k, v = (torch.randn(s, args.kv_heads, args.head_dim, generator=gen) for _ in range(2))

    blocks = packed.local_attention_blocks()
    new, new_peak, new_s = measure(lambda: attention(q, k, v, dtype=torch.float32, blocks=blocks))
    old, old_peak, old_s = measure(lambda: dense_mask_attention(q, k, v, packed))

    print(f"sequence {s} tokens ({args.frames} frames x {packed.num_video // args.frames} + 766 audio/text), "
          f"{args.heads} q / {args.kv_heads} kv heads x {args.head_dim}, receptive field {args.receptive_field}, "
          f"{len(blocks)} query blocks, {torch.get_num_threads()} threads")
    print(f"before (dense mask): peak +{old_peak / MIB:8.1f} MiB  {old_s:7.3f} s")
    print(f"now (query blocks):  peak +{new_peak / MIB:8.1f} MiB  {new_s:7.3f} s")
    print(f"ratio before/now:    memory {old_peak / max(new_peak, 1):.1f}x  time {old_s / new_s:.2f}x")
    print(f"max |before - now|:  {(old - new).abs().max().item():.2e}")
    print(f"full-size 1080p 5 s ({FULL_SEQ} tokens): the dense mask alone {FULL_SEQ**2 / 2**30:.1f} GiB; "
          f"math-kernel fp32 scores {FULL_HEADS_Q * FULL_SEQ**2 * 4 / 2**30:.0f} GiB per layer; now none")


if __name__ == "__main__":
    main()
