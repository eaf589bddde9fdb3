"""The two VAEs from ``diffusers``: Wan 2.2's video VAE and Stable Audio Open's audio VAE.

Video (``AutoencoderKLWan``, Wan 2.2 TI2V-5B: 48 channels, stride 4x16x16).
The DiT works on normalised latents, as the reference's Wan 2.2 wrapper makes
them: ``(mu - mean) / std`` per channel on the way in (the posterior's mean,
no sampling) and ``z * std + mean`` on the way out, with the 48 statistics
that the diffusers config carries as ``latents_mean`` / ``latents_std`` (the
same numbers as the reference's built-in table). Decoding is causal in time:
latent frame 0 gives one frame, each later one four, and the decoder keeps a
cache of the previous frames' features. :meth:`VideoVAE.frames` runs that
same loop (diffusers' own ``_decode``) a latent frame at a time with a cache
of its own and yields uint8 frames as it goes, so the clip is never held
whole and a concurrent image encode (which resets the VAE's cache) cannot
disturb it; the result equals a one-shot ``vae.decode``.

Audio (``AutoencoderOobleck``, 64 channels). The DiT's audio latents ``[1, A,
64]`` run at 25 frames a second (the reference encodes at 51200 Hz, the
VAE's 2048-sample hop); the decoded waveform is therefore ``hop * 25`` Hz
audio (51200 Hz for the real VAE). The reference resamples it by 441/512 to
label it 44.1 kHz; we hand it on at its true rate and the encoder resamples
once, to 48 kHz.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from happyhorse.engines.magihuman.shapes import MODEL_FPS


class VideoVAE:
    """Wan 2.2's VAE from a diffusers folder, with the reference's latent normalisation."""

    def __init__(self, folder: Path, *, device: Any) -> None:
        import torch
        from diffusers import AutoencoderKLWan

        self.vae = AutoencoderKLWan.from_pretrained(folder, torch_dtype=torch.float32, local_files_only=True)
        self.vae.requires_grad_(False).eval().to(device)
        config = self.vae.config
        shape = (1, config.z_dim, 1, 1, 1)
        self.mean = torch.tensor(config.latents_mean, dtype=torch.float32, device=device).view(shape)
        self.std = torch.tensor(config.latents_std, dtype=torch.float32, device=device).view(shape)
        self.device = device

    @property
    def z_dim(self) -> int:
        return int(self.vae.config.z_dim)

    def encode_image(self, image: np.ndarray) -> Any:
        """uint8 ``[H, W, 3]`` → normalised latent ``[1, z, 1, H/16, W/16]`` (one causal first frame)."""
        import torch

        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).to(self.device, torch.float32)
        pixels = (pixels / 127.5 - 1.0).permute(2, 0, 1)[None, :, None]  # [1, 3, 1, H, W] in [-1, 1]
        with torch.inference_mode():
            mu = self.vae.encode(pixels).latent_dist.mode()
        return (mu - self.mean) / self.std

    def frames(self, latents: Any, *, chunk: int = 1,
               cancelled: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
        """uint8 ``[H, W, 3]`` frames of normalised ``latents`` ``[1, z, T, h, w]``, decoded ``chunk`` latent
        frames at a time as they are pulled. Raises :class:`JobCancelled` when ``cancelled()`` turns true."""
        import torch
        from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

        from happyhorse.engines.base import JobCancelled

        vae = self.vae
        cache: list[Any] = [None] * _decoder_convs(vae)
        with torch.inference_mode():
            z = latents.to(self.device, torch.float32) * self.std + self.mean
            for start in range(0, z.shape[2], chunk):
                if cancelled is not None and cancelled():
                    raise JobCancelled()
                with torch.inference_mode():
                    parts = []
                    for i in range(start, min(start + chunk, z.shape[2])):
                        x = vae.post_quant_conv(z[:, :, i:i + 1])
                        parts.append(vae.decoder(x, feat_cache=cache, feat_idx=[0], first_chunk=(i == 0)))
                    out = torch.cat(parts, 2)
                    if vae.config.patch_size is not None:
                        out = unpatchify(out, patch_size=vae.config.patch_size)
                    out = ((out.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).to(torch.uint8)
                    batch = out[0].permute(1, 2, 3, 0).cpu().numpy()  # [t, H, W, 3]
                yield from batch


def _decoder_convs(vae: Any) -> int:
    counts = getattr(vae, "_cached_conv_counts", None)
    if counts and "decoder" in counts:
        return int(counts["decoder"])
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

    return sum(isinstance(m, WanCausalConv3d) for m in vae.decoder.modules())


class AudioVAE:
    """Stable Audio Open's VAE from a diffusers folder."""

    def __init__(self, folder: Path, *, device: Any) -> None:
        import torch
        from diffusers import AutoencoderOobleck

        self.vae = AutoencoderOobleck.from_pretrained(folder, torch_dtype=torch.float32, local_files_only=True)
        self.vae.requires_grad_(False).eval().to(device)
        self.device = device

    @property
    def channels(self) -> int:
        return int(self.vae.config.decoder_input_channels)

    @property
    def sample_rate(self) -> int:
        """The true rate of the decoded waveform: the VAE's hop at 25 latent frames a second."""
        return int(np.prod(self.vae.config.downsampling_ratios)) * MODEL_FPS

    def decode(self, latents: Any) -> np.ndarray:
        """``[1, A, C]`` → float32 ``[channels, A * hop]``."""
        import torch

        with torch.inference_mode():
            audio = self.vae.decode(latents.to(self.device, torch.float32).transpose(1, 2)).sample
        return audio[0].float().cpu().numpy()
