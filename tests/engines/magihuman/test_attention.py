"""Attention without a dense mask: local layers by query blocks, global layers unmasked, GQA unrepeated.

The oracle is the masked softmax the README describes (one ``[S, S]`` mask
from the local ranges, K/V repeat-interleaved per query head), computed here
in float64; ``Packed.local_attention_mask`` itself is pinned to the
reference's frame-window rule by ``test_packing_parity``.
"""

from __future__ import annotations

import importlib.util

import pytest

torch = pytest.importorskip("torch")

from happyhorse.engines.magihuman.config import DiTConfig  # noqa: E402
from happyhorse.engines.magihuman.dit import MagiDiT, attention  # noqa: E402
from happyhorse.engines.magihuman.options import MagiHumanOptions  # noqa: E402
from happyhorse.engines.magihuman.packing import Packed, PackingConfig, pack  # noqa: E402

HAVE_FLASH = importlib.util.find_spec("flash_attn") is not None
HEADS_Q, HEADS_KV, HEAD_DIM = 4, 2, 16

# (latent frames, latent height = width, receptive field, audio rows, text rows): windows clipped at the
# start only, at both ends (f >= T), not at all in the middle, f = 0, one frame, and no audio+text tail.
LAYOUTS = [
    (1, 4, 1, 5, 3),
    (3, 4, 1, 5, 3),
    (4, 2, 5, 2, 2),
    (7, 4, 2, 9, 4),
    (9, 2, 0, 3, 1),
    (12, 2, 11, 13, 6),
    (32, 2, 11, 4, 2),
    (5, 2, 1, 0, 0),
]


def _packed(frames: int, side: int, receptive_field: int, audio: int, text: int) -> Packed:
    gen = torch.Generator().manual_seed(frames * 100 + receptive_field)
    return pack(
        torch.randn(1, 4, frames, side, side, generator=gen),
        torch.randn(1, max(audio, 1), 64, generator=gen),
        torch.randn(1, max(text, 1), 80, generator=gen),
        audio_len=audio, text_len=text,
        config=PackingConfig(frame_receptive_field=receptive_field, coords_style="v1"),
    )


def _masked_softmax(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The oracle: float64, K/V repeated per query head (h uses kv head h // group), one dense mask."""
    group = q.shape[1] // k.shape[1]
    q, k, v = q.double(), k.double().repeat_interleave(group, 1), v.double().repeat_interleave(group, 1)
    scores = torch.einsum("qhd,khd->hqk", q, k) / q.shape[-1] ** 0.5
    weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    return torch.einsum("hqk,khd->qhd", weights, v)


def _qkv(seq: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(seq, HEADS_Q, HEAD_DIM, generator=gen) * 2,
            torch.randn(seq, HEADS_KV, HEAD_DIM, generator=gen) * 2,
            torch.randn(seq, HEADS_KV, HEAD_DIM, generator=gen))


@pytest.mark.parametrize("layout", LAYOUTS, ids=[f"T{t}-hw{s}-f{f}-a{a}-t{x}" for t, s, f, a, x in LAYOUTS])
def test_blocks_cover_each_query_once_with_exactly_its_mask_row(layout) -> None:
    packed = _packed(*layout)
    mask = packed.local_attention_mask()
    blocks = packed.local_attention_blocks()
    assert [q for q, _ in blocks][0][0] == 0 and blocks[-1][0][1] == packed.seq_len
    for ((_, end), _), ((start, _), _) in zip(blocks, blocks[1:]):
        assert end == start, "query blocks must tile the sequence"
    for (q0, q1), keys in blocks:
        row = torch.zeros(packed.seq_len, dtype=torch.bool)
        for k0, k1 in keys:
            row[k0:k1] = True
        assert torch.equal(mask[q0:q1], row.expand(q1 - q0, -1)), f"queries [{q0}, {q1})"
    frames = layout[0]
    assert len(blocks) <= frames + 1, "one block per frame at most, plus the audio+text queries"


@pytest.mark.parametrize("layout", LAYOUTS, ids=[f"T{t}-hw{s}-f{f}-a{a}-t{x}" for t, s, f, a, x in LAYOUTS])
def test_local_attention_equals_masked_softmax(layout) -> None:
    packed = _packed(*layout)
    q, k, v = _qkv(packed.seq_len, seed=sum(layout))
    ours = attention(q, k, v, dtype=torch.float32, blocks=packed.local_attention_blocks())
    expected = _masked_softmax(q, k, v, packed.local_attention_mask())
    torch.testing.assert_close(ours.double(), expected, atol=1e-5, rtol=1e-5)
    unmasked = _masked_softmax(q, k, v, torch.ones_like(packed.local_attention_mask()))
    if layout[2] + 1 < layout[0]:  # some frame's window leaves frames out: the mask must matter
        assert (ours.double() - unmasked).abs().max() > 1e-2


def test_global_attention_is_the_unmasked_gqa_softmax() -> None:
    q, k, v = _qkv(97, seed=7)
    ours = attention(q, k, v, dtype=torch.float32)
    torch.testing.assert_close(ours.double(), _masked_softmax(q, k, v, torch.ones(97, 97, dtype=torch.bool)),
                               atol=1e-5, rtol=1e-5)


def test_sr_forward_builds_no_dense_mask_and_passes_no_mask(monkeypatch, tiny_configs) -> None:
    """A moderate SR sequence (13 frames of 144 tokens) with the dense mask made unavailable."""
    def refuse(self):
        raise AssertionError("the DiT must not build the dense [S, S] mask")

    calls: list[tuple[object, int]] = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, *args, **kwargs):
        calls.append((kwargs.get("attn_mask", args[0] if args else None), k.shape[-2]))
        return sdpa(q, k, v, *args, **kwargs)

    monkeypatch.setattr(Packed, "local_attention_mask", refuse)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    torch.manual_seed(0)
    model = MagiDiT(DiTConfig.from_dict(tiny_configs["sr_arch_config"]), compute_dtype=torch.float32)
    packed = _packed(13, 24, 2, 49, 16)
    with torch.no_grad():
        out = model(packed)
    assert out.shape == (packed.seq_len, 64) and torch.isfinite(out).all()
    assert calls and all(mask is None for mask, _ in calls)
    keys = {k for _, k in calls}
    assert packed.seq_len in keys, "global layers and audio+text queries see the whole sequence"
    assert max(keys - {packed.seq_len}) <= 5 * 144 + 49 + 16, "a video frame sees its window and the tail only"


def test_attention_backend_is_validated() -> None:
    model = MagiDiT(DiTConfig.from_dict({"num_layers": 1, "hidden_size": 32, "head_dim": 16,
                                         "num_query_groups": 1}), compute_dtype=torch.float32)
    assert model.attention_backend == "sdpa"
    with pytest.raises(ValueError, match="sdpa, flash"):
        model.set_attention_backend("xformers")
    with pytest.raises(ValueError, match="sdpa or flash"):
        MagiHumanOptions.parse("/weights", {"attention_backend": "xformers"})
    assert MagiHumanOptions.parse("/weights", {}).attention_backend == "sdpa"
    if not HAVE_FLASH:
        with pytest.raises(ValueError, match="pip install flash-attn"):
            model.set_attention_backend("flash")
        with pytest.raises(ValueError, match="pip install flash-attn"):
            MagiHumanOptions.parse("/weights", {"attention_backend": "flash"})


@pytest.mark.skipif(not (HAVE_FLASH and torch.cuda.is_available()), reason="needs flash-attn and a GPU")
def test_flash_backend_equals_sdpa_on_gpu() -> None:
    packed = _packed(7, 4, 2, 9, 4)
    q, k, v = (t.cuda() for t in _qkv(packed.seq_len, seed=3))
    blocks = packed.local_attention_blocks()
    for b in (None, blocks):
        flash = attention(q, k, v, dtype=torch.bfloat16, blocks=b, backend="flash")
        sdpa = attention(q, k, v, dtype=torch.bfloat16, blocks=b, backend="sdpa")
        torch.testing.assert_close(flash.float(), sdpa.float(), atol=2e-2, rtol=2e-2)
