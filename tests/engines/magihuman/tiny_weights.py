"""Tiny random components of the ``magihuman`` engine, saved in the published weights layout.

As diffusers' own tests do, each external component is built small from a
config (a T5Gemma encoder with a word-level tokenizer made with the
``tokenizers`` library, a Wan 2.2-style VAE that keeps the real 4x16x16
stride and patch 2 but has 4 latent channels, an Oobleck VAE with the real
64 latent channels and 2048-sample hop) and saved with ``save_pretrained``;
the DiTs are the reference's seeded tiny checkpoints from
``tests/data/magihuman`` with a ``config.json`` carrying their tiny
architecture. The engine then loads all of it through its real loading code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from happyhorse.engines.magihuman.weights import AUDIO_VAE, DIT_FOLDERS, TEXT_ENCODER, VIDEO_VAE

MAGI_DATA = Path(__file__).parents[2] / "data" / "magihuman"
Z_DIM = 4
TEXT_CHANNELS = 80
WORDS = "a the horse dog runs walks on beach in rain city night light slow push camera talks sings".split()


def build_tiny_weights(root: Path) -> Path:
    """Write a complete tiny weights directory under ``root`` and return it."""
    import torch
    from diffusers import AutoencoderKLWan, AutoencoderOobleck

    configs = json.loads((MAGI_DATA / "config_tiny.json").read_text())
    proxy = configs["data_proxy_config"]
    for key, (source, arch) in {"distilled": ("dit_tiny", "arch_config"), "base": ("dit_tiny", "arch_config"),
                                "sr_540p": ("dit_tiny_sr", "sr_arch_config"),
                                "sr_1080p": ("dit_tiny_sr", "sr_arch_config")}.items():
        folder = root / DIT_FOLDERS[key]
        folder.mkdir(parents=True)
        shutil.copy(MAGI_DATA / source / "model.safetensors", folder / "model.safetensors")
        (folder / "config.json").write_text(json.dumps({"arch_config": configs[arch], "data_proxy_config": proxy}))

    _tiny_text_encoder(root / TEXT_ENCODER[1])
    torch.manual_seed(0)
    stats = dict(latents_mean=[0.1, -0.2, 0.05, 0.3], latents_std=[0.5, 1.5, 0.8, 1.2])
    AutoencoderKLWan(base_dim=8, decoder_base_dim=8, z_dim=Z_DIM, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                     temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
                     patch_size=2, scale_factor_temporal=4, scale_factor_spatial=16, **stats,
                     ).save_pretrained(root / VIDEO_VAE[1] / VIDEO_VAE[2])
    torch.manual_seed(0)
    AutoencoderOobleck(encoder_hidden_size=4, downsampling_ratios=[2, 4, 4, 8, 8], channel_multiples=[1, 1, 1, 1, 1],
                       decoder_channels=4, decoder_input_channels=64, audio_channels=2, sampling_rate=44100,
                       ).save_pretrained(root / AUDIO_VAE[1] / AUDIO_VAE[2])
    return root


def _tiny_text_encoder(folder: Path) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5GemmaConfig, T5GemmaEncoderModel

    vocab = {token: i for i, token in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>",
                                        bos_token="<bos>", unk_token="<unk>")
    module = dict(vocab_size=len(vocab), hidden_size=TEXT_CHANNELS, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=40, query_pre_attn_scalar=40,
                  max_position_embeddings=64, sliding_window=16)
    config = T5GemmaConfig(encoder=module, decoder=module, vocab_size=len(vocab), is_encoder_decoder=False)
    torch.manual_seed(0)
    T5GemmaEncoderModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
