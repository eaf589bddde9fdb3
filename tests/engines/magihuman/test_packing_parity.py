"""Packing and unpacking against the reference data proxy (``B_packing_*``): exact equality."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import FORWARD_CASES

torch = pytest.importorskip("torch")

from happyhorse.engines.magihuman.packing import PackingConfig, pack, pin_first_frame, unpack  # noqa: E402

CASES = sorted(FORWARD_CASES)


def _pack(data: dict[str, Any], case: str, tiny_configs: dict[str, Any]):
    proxy = tiny_configs["data_proxy_config"]
    config = PackingConfig(
        t_patch_size=proxy["t_patch_size"],
        patch_size=proxy["patch_size"],
        frame_receptive_field=proxy["frame_receptive_field"],
        coords_style=FORWARD_CASES[case][2],
    )
    return pack(
        data["in.video_latent"], data["in.audio_latent"], data["in.txt_feat"],
        audio_len=int(data["in.audio_feat_len"]), text_len=int(data["in.txt_feat_len"]), config=config,
    )


def _same(ours: torch.Tensor, theirs: torch.Tensor, what: str) -> None:
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
    assert torch.equal(ours, theirs), f"{what}: max diff {(ours.double() - theirs.double()).abs().max()}"


@pytest.mark.parametrize("case", CASES)
def test_pack_matches_reference_exactly(case, magi_tensors, tiny_configs) -> None:
    data = magi_tensors(f"B_packing_{case}")
    packed = _pack(data, case, tiny_configs)
    _same(packed.x, data["packed.x"], "x")
    _same(packed.coords, data["packed.coords_mapping"], "coords")
    _same(packed.modality, data["packed.modality_mapping"], "modality")
    _same(packed.local_q_ranges, data["packed.local_q_ranges"], "local q ranges")
    _same(packed.local_k_ranges, data["packed.local_k_ranges"], "local k ranges")
    tokens = data["packed.video_tokens"]
    _same(packed.x[: packed.num_video, : tokens.shape[1]], tokens, "video tokens (C, pT, pH, pW)")
    assert packed.seq_len == data["packed.x"].shape[0] == int(data["packed.max_seqlen"])


@pytest.mark.parametrize("case", CASES)
def test_unpack_matches_reference_exactly(case, magi_tensors, tiny_configs) -> None:
    data = magi_tensors(f"B_packing_{case}")
    packed = _pack(data, case, tiny_configs)
    video, audio = unpack(data["unpack_in.tokens"], packed)
    _same(video, data["unpack_out.video"], "video")
    _same(audio, data["unpack_out.audio"], "audio")


@pytest.mark.parametrize("case", CASES)
def test_pack_then_unpack_reorders_channels_as_the_reference(case, magi_tensors, tiny_configs) -> None:
    data = magi_tensors(f"B_packing_{case}")
    packed = _pack(data, case, tiny_configs)
    video, _ = unpack(packed.x, packed)
    _same(video, data["roundtrip.video_from_packed_x"], "round trip")
    # The two channel orders differ, so the round trip is not the identity.
    assert not torch.equal(video, data["in.video_latent"])


@pytest.mark.parametrize("case", CASES)
def test_local_attention_mask_is_the_frame_window_rule(case, magi_tensors, tiny_configs) -> None:
    data = magi_tensors(f"B_packing_{case}")
    packed = _pack(data, case, tiny_configs)
    f = tiny_configs["data_proxy_config"]["frame_receptive_field"]
    _, t, h, w = packed.video_shape
    per_frame = (h // 2) * (w // 2)
    n_v, s = packed.num_video, packed.seq_len
    expected = torch.ones(s, s, dtype=torch.bool)
    for q in range(n_v):
        for k in range(n_v):
            expected[q, k] = abs(q // per_frame - k // per_frame) <= f
    assert torch.equal(packed.local_attention_mask(), expected)
    assert t > 2 * f + 1 or case != "sr_local", "the SR case must have frames outside the window"


def test_pin_first_frame_sets_only_frame_zero(magi_tensors) -> None:
    data = magi_tensors("B_packing_ti2v")
    image = data["in.image_latent"]
    noise = torch.randn(data["in.video_latent"].shape, generator=torch.Generator().manual_seed(0))
    pinned = pin_first_frame(noise, image)
    assert torch.equal(pinned[:, :, :1], image)
    assert torch.equal(pinned[:, :, 1:], noise[:, :, 1:])
    # The fixture's TI2V latent is already pinned: pinning it again changes nothing.
    assert torch.equal(pin_first_frame(data["in.video_latent"], image), data["in.video_latent"])
