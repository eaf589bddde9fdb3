"""Tiny random LTX-2 and LTX-2.3 components, saved with ``save_pretrained`` and loaded by the engine's real path.

As diffusers' own tests do, every component is built small from a config
(the Gemma 3 text encoder and a character-level tokenizer included, since
nothing may come from the Hub). The video VAE keeps LTX-2's real compression
(32x in space, 8x in time) so the engine's size and length rules are the
real ones; the vocoder's upsampling matches the audio VAE's hop, so the audio
comes out at its true length. LTX-2.3's differ where diffusers' LTX-2.3 test
components differ (the transformer's LTX-2.3 switches, per-modality connector
projections, the 48 kHz vocoder with bandwidth extension, the scheduler's
shifts); its directory also holds a tiny latent upsampler in
``latent_upsampler/``, as ``Lightricks/LTX-2`` lays its own out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# What the tests ask the engine for: 2 steps, no guidance, a short prompt, and
# generation at 1/20 of the output's sides (1280x720 -> 64x32) then upscaling.
TINY_OPTIONS: dict[str, Any] = {"steps": 2, "guidance": 1.0, "max_sequence_length": 16, "scale": 0.05}


def need_diffusion() -> None:
    pytest.importorskip("torch", reason="the diffusion extra is not installed")
    pytest.importorskip("diffusers", reason="the diffusion extra is not installed")
    pytest.importorskip("transformers", reason="the diffusion extra is not installed")


def build_tiny_pipeline(family: str = "LTX-2") -> Any:
    """An ``LTX2Pipeline`` of tiny random ``family`` components (seeded, so every build is the same)."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, GemmaTokenizer

    vocab = {token: i for i, token in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"])}
    for char in "abcdefghijklmnopqrstuvwxyz0123456789\u2581":
        vocab[char] = len(vocab)
    tokenizer = GemmaTokenizer(vocab=vocab, merges=[])
    text_config = dict(vocab_size=len(vocab) + 8, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=64,
                       sliding_window=16)
    vision_config = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         image_size=16, patch_size=8)
    config = Gemma3Config(text_config=text_config, vision_config=vision_config, mm_tokens_per_image=4)
    torch.manual_seed(0)
    text_encoder = Gemma3ForConditionalGeneration(config).eval()
    hidden = config.text_config.hidden_size

    ltx2_3 = family == "LTX-2.3"
    switches = dict(gated_attn=True, cross_attn_mod=True, audio_gated_attn=True, audio_cross_attn_mod=True,
                    use_prompt_embeddings=False, perturbed_attn=True) if ltx2_3 else {}
    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=hidden, rope_double_precision=False, rope_type="split", **switches,
    )
    # LTX-2.3's connectors project per modality, straight to the transformer's cross-attention widths.
    projections = dict(per_modality_projections=True, proj_bias=True, video_gated_attn=True, audio_gated_attn=True,
                       video_hidden_dim=16, audio_hidden_dim=8) if ltx2_3 else {}
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=hidden, text_proj_in_factor=config.text_config.num_hidden_layers + 1,
        video_connector_num_attention_heads=2 if ltx2_3 else 4, video_connector_attention_head_dim=8,
        video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2 if ltx2_3 else 4, audio_connector_attention_head_dim=4 if ltx2_3 else 8,
        audio_connector_num_layers=1, audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32,
        rope_theta=10000.0, rope_double_precision=False, causal_temporal_positioning=False, rope_type="split",
        **projections,
    )
    torch.manual_seed(0)
    # LTX-2's layout (patch 4, then spatial, temporal and two spatiotemporal
    # downsamples: 32x, 8x) with 8 channels per block; zero padding, as a 1x2
    # latent is too small to reflect.
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8), layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False,) * 4, downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_type=("spatiotemporal",) * 3, upsample_residual=(False,) * 3, upsample_factor=(1, 1, 1),
        timestep_conditioning=False, patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
        spatial_compression_ratio=32, temporal_compression_ratio=8, decoder_spatial_padding_mode="zeros",
    )
    torch.manual_seed(0)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8,
    )
    torch.manual_seed(0)
    # Upsampling 4 x 4 x 10 = 160 = the mel hop: one second of mel frames gives 16000 samples.
    stage_1 = dict(in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins, hidden_channels=32,
                   out_channels=2, upsample_kernel_sizes=[8, 8, 20], upsample_factors=[4, 4, 10],
                   resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1)
    if ltx2_3:
        # Then the bandwidth extension to 48 kHz: its mel (hop 4) upsampled 12x = 3 x the hop.
        vocoder = LTX2VocoderWithBWE(
            **stage_1, bwe_in_channels=2 * 8, bwe_hidden_channels=32, bwe_out_channels=2,
            bwe_upsample_kernel_sizes=[5, 4, 4], bwe_upsample_factors=[3, 2, 2], bwe_resnet_kernel_sizes=[3],
            bwe_resnet_dilations=[[1, 3, 5]], filter_length=16, hop_length=4, window_length=16, num_mel_channels=8,
            input_sampling_rate=16000, output_sampling_rate=48000,
        )
        scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                    shift_terminal=0.1, base_image_seq_len=1024,
                                                    max_image_seq_len=4096)
    else:
        vocoder = LTX2Vocoder(**stage_1, output_sampling_rate=16000)
        scheduler = FlowMatchEulerDiscreteScheduler()
    return LTX2Pipeline(
        scheduler=scheduler, vae=vae, audio_vae=audio_vae, text_encoder=text_encoder,
        tokenizer=tokenizer, connectors=connectors, transformer=transformer, vocoder=vocoder,
    )


def build_tiny_upsampler() -> Any:
    """A tiny random ``LTX2LatentUpsamplerModel`` (2x in space) for the tiny VAE's 4 latent channels."""
    import torch
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    torch.manual_seed(0)
    return LTX2LatentUpsamplerModel(in_channels=4, mid_channels=32, num_blocks_per_stage=1)

@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A complete diffusers-format LTX-2 directory of tiny random weights."""
    need_diffusion()
    path = tmp_path_factory.mktemp("ltx2-tiny") / "weights"
    build_tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_weights_2_3(tmp_path_factory) -> Path:
    """A complete diffusers-format LTX-2.3 directory of tiny random weights, with a latent upsampler."""
    need_diffusion()
    path = tmp_path_factory.mktemp("ltx2.3-tiny") / "weights"
    build_tiny_pipeline("LTX-2.3").save_pretrained(path)
    build_tiny_upsampler().save_pretrained(path / "latent_upsampler")
    return path


@pytest.fixture(scope="session")
def tiny_engine(tiny_weights):
    """One engine for the session, as a worker keeps one for its lifetime."""
    from happyhorse.engines import load_engine

    return load_engine("ltx2", {"weights": tiny_weights, **TINY_OPTIONS})


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "diffusion: needs the diffusion extra (torch, diffusers); skipped without it")


def pytest_collection_modifyitems(config, items) -> None:
    # Every test in this directory carries the marker (`-m "not diffusion"` leaves them out).
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.diffusion)
