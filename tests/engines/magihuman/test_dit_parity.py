"""The DiT forward against the reference (``A_forward_*``), loaded through our real checkpoint loader.

The main target is the reference's all-fp32 run (``out_fp32``), at the
README's atol/rtol 1e-4 (an independent re-implementation measured ≤ 6.2e-6).
Inputs come from the fixture's own un-packed latents through our packing, so
packing, DiT and unpacking are checked end to end.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import FORWARD_CASES, MAGI_DATA

torch = pytest.importorskip("torch")

from happyhorse.engines.magihuman.checkpoint import load_dit  # noqa: E402
from happyhorse.engines.magihuman.config import DiTConfig  # noqa: E402
from happyhorse.engines.magihuman.dit import rope_table  # noqa: E402
from happyhorse.engines.magihuman.packing import PackingConfig, pack, unpack  # noqa: E402

ATOL = RTOL = 1e-4
CASES = sorted(FORWARD_CASES)


def _model_and_packed(case: str, data: dict[str, Any], tiny_configs: dict[str, Any], dtype: torch.dtype):
    config_key, weights_dir, coords_style = FORWARD_CASES[case]
    config = DiTConfig.from_dict(tiny_configs[config_key])
    model = load_dit(MAGI_DATA / weights_dir, config=config, compute_dtype=dtype)
    proxy = tiny_configs["data_proxy_config"]
    packed = pack(
        data["in.video_latent"], data["in.audio_latent"], data["in.txt_feat"],
        audio_len=int(data["in.audio_feat_len"]), text_len=int(data["in.txt_feat_len"]),
        config=PackingConfig(frame_receptive_field=proxy["frame_receptive_field"], coords_style=coords_style),
    )
    return model, packed


def _close(ours: torch.Tensor, theirs: torch.Tensor, what: str, atol: float = ATOL, rtol: float = RTOL) -> None:
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
    torch.testing.assert_close(ours, theirs, atol=atol, rtol=rtol, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_reference_fp32(case, magi_tensors, tiny_configs) -> None:
    data = magi_tensors(f"A_forward_{case}")
    model, packed = _model_and_packed(case, data, tiny_configs, torch.float32)
    assert torch.equal(packed.x, data["dit_in.x"]), "packing must feed the DiT the reference's input"
    with torch.no_grad():
        out = model(packed)
    _close(out, data["out_fp32.x"], "x")
    video, audio = unpack(out, packed)
    _close(video, data["out_fp32.video"], "video")
    _close(audio, data["out_fp32.audio"], "audio")
    assert torch.count_nonzero(out[packed.num_video + packed.num_audio :]) == 0, "text rows must be zero"


@pytest.mark.parametrize("case", CASES)
def test_rope_and_every_layer_match_reference_fp32(case, magi_tensors, tiny_configs) -> None:
    """Bisecting aid: the rotary table, the adapter and the residual stream after each layer."""
    data = magi_tensors(f"A_forward_{case}")
    model, packed = _model_and_packed(case, data, tiny_configs, torch.float32)
    _close(rope_table(packed.coords, model.adapter.rope.bands), data["mid.rope"], "rope", atol=1e-6, rtol=0)
    hidden: list[torch.Tensor] = []
    with torch.no_grad():
        model(packed, hidden_states=hidden)
    _close(hidden[0], data["mid.adapter_x"], "adapter")
    for i, h in enumerate(hidden[1:]):
        _close(h, data[f"mid.layer{i}"], f"after layer {i}")
    assert len(hidden) == 1 + model.config.num_layers


def test_sr_model_really_uses_local_attention(magi_tensors, tiny_configs) -> None:
    """The SR fixture must tell local from global attention, or its parity proves nothing about masks."""
    data = magi_tensors("A_forward_sr_local")
    model, packed = _model_and_packed("sr_local", data, tiny_configs, torch.float32)
    for layer in model.block.layers:
        layer.local = False
    with torch.no_grad():
        global_out = model(packed)
    assert (global_out - data["out_fp32.x"]).abs().max() > 100 * ATOL


def test_bf16_mode_matches_reference_bf16_t2v(magi_tensors, tiny_configs) -> None:
    """The reference's own numerics (bf16 block linears and attention inputs).

    Our bf16 mode rounds exactly where the reference does; a block linear is
    accumulated in fp32 and rounded once. What may remain is an accumulation
    landing on the other side of a bf16 rounding boundary (measured 2.2e-5
    here), far below the 3.8e-2 that separates the reference's bf16 and fp32
    runs: 2e-3 tells "emulates the casts" from "does not".
    """
    data = magi_tensors("A_forward_t2v")
    model, packed = _model_and_packed("t2v", data, tiny_configs, torch.bfloat16)
    with torch.no_grad():
        out = model(packed)
    gap = (data["out_fp32.x"] - data["out_bf16.x"]).abs().max().item()
    assert gap > 1e-2
    _close(out, data["out_bf16.x"], "x (bf16)", atol=2e-3, rtol=0)
