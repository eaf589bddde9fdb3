"""The super-resolution stage: upsample the base latents, re-noise them, refine with the SR DiT.

Public API::

    sr_video, sr_audio = prepare_sr_inputs(base_video, base_audio, size=(h_sr, w_sr), noise=noise)
    video = super_resolve(
        sr_velocity, base_video, base_audio, size=(h_sr, w_sr),
        prompt=prompt, negative=None,            # negative=TextCondition(...) for sr_cfg_number=2
        image=image_latent_sr, noise=noise, callback=on_step,
    )

The stage refines video only: 5 UniPC steps from the full schedule (shift
5), the SR audio input held fixed. The result's audio is the base audio, so
``super_resolve`` returns the video alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from happyhorse.engines.magihuman.sampling import (
    Guidance,
    StepCallback,
    TextCondition,
    VelocityFn,
    denoise,
)
from happyhorse.engines.magihuman.schedules import (
    DEFAULT_SHIFT,
    SR_NOISE_INDEX,
    sr_renoise_sigma,
    sr_video_guidance,
)
from happyhorse.engines.magihuman.solvers import NoiseFn

if TYPE_CHECKING:
    import torch

__all__ = ["SR_AUDIO_NOISE_SCALE", "SR_STEPS", "prepare_sr_inputs", "sr_guidance", "super_resolve"]

SR_STEPS = 5  # EvaluationConfig.sr_num_inference_steps
SR_AUDIO_NOISE_SCALE = 0.7  # the SR audio input is 0.7 noise + 0.3 base audio


def sr_guidance(negative: TextCondition, latent_frames: int) -> Guidance:
    """CFG of the SR stage (``sr_cfg_number=2``): video 3.5, min(2.0, 3.5) on latent frames < 13.

    The audio scale is irrelevant: the SR stage never updates audio.
    """
    scales = sr_video_guidance(latent_frames)
    return Guidance(negative=negative, video_scale=lambda timestep: scales)


def prepare_sr_inputs(
    base_video: torch.Tensor,
    base_audio: torch.Tensor,
    *,
    size: tuple[int, int],
    noise: NoiseFn,
    noise_index: int = SR_NOISE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SR stage's inputs from the base result.

    Video: trilinear upsampling (``align_corners=True``) of ``base_video``
    ``[1, C, T, h, w]`` to ``[1, C, T, *size]``, then ``x s + eps sqrt(1 - s^2)``
    with ``s`` the ZeroSNR table entry ``noise_index``. Audio:
    ``0.7 eps + 0.3 base_audio``. Noise is drawn for video, then audio.
    """
    import torch

    frames = base_video.shape[2]
    video = torch.nn.functional.interpolate(
        base_video, size=(frames, *size), mode="trilinear", align_corners=True
    )
    sigma = torch.tensor(sr_renoise_sigma(noise_index), dtype=torch.float32, device=video.device)
    video = video * sigma + noise(video) * (1 - sigma**2) ** 0.5
    audio = noise(base_audio) * SR_AUDIO_NOISE_SCALE + base_audio * (1 - SR_AUDIO_NOISE_SCALE)
    return video, audio


def super_resolve(
    velocity: VelocityFn,
    base_video: torch.Tensor,
    base_audio: torch.Tensor,
    *,
    size: tuple[int, int],
    prompt: TextCondition,
    noise: NoiseFn,
    negative: TextCondition | None = None,
    image: torch.Tensor | None = None,
    num_steps: int = SR_STEPS,
    callback: StepCallback | None = None,
    shift: float = DEFAULT_SHIFT,
) -> torch.Tensor:
    """Run the SR stage on a base result and return the SR video latent ``[1, C, T, *size]``.

    ``velocity`` wraps the SR DiT; ``image`` is the TI2V latent at SR size;
    ``negative`` turns on CFG with the per-frame scale of ``sr_guidance``.
    """
    video, audio = prepare_sr_inputs(base_video, base_audio, size=size, noise=noise)
    guidance = None if negative is None else sr_guidance(negative, video.shape[2])
    video, _ = denoise(
        velocity,
        video,
        audio,
        prompt=prompt,
        num_steps=num_steps,
        sampler="unipc",
        guidance=guidance,
        image=image,
        update_audio=False,
        noise=noise,
        callback=callback,
        stage="sr",
        shift=shift,
    )
    return video
