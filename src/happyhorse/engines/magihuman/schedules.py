"""Noise schedules and guidance scales of the daVinci-MagiHuman sampler.

Public API::

    sched = flow_schedule(32)                 # FlowSchedule: sigmas [33] f32 (last 0), timesteps [32] i64
    sigma = sr_renoise_sigma()                # 0.838910...: ZeroSNR table entry 220
    g = base_video_guidance(timestep)         # 5.0 while t > 500, else 2.0
    g = sr_video_guidance(latent_frames)      # [1, 1, T, 1, 1]: 3.5, min(2.0, 3.5) below frame 13
    theta = sde_noise_theta(index, steps)     # 0.0 or 1.0: the SDE variant's noise switch

Flow matching: ``x_t = (1 - sigma) x0 + sigma eps`` and the DiT predicts the
velocity ``v``, so ``x0 = x_t - sigma v``. Every stage (base, distilled,
super-resolution) uses the same shifted schedule with shift 5. The numbers
reproduce the reference's float32/float64 mix exactly (see the fixtures'
``sched.*`` tensors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "BASE_AUDIO_GUIDANCE",
    "DEFAULT_SHIFT",
    "SR_NOISE_INDEX",
    "FlowSchedule",
    "base_video_guidance",
    "flow_schedule",
    "sde_noise_theta",
    "sr_renoise_sigma",
    "sr_video_guidance",
    "zero_snr_table",
]

DEFAULT_SHIFT = 5.0  # EvaluationConfig.shift, used by every stage
NUM_TRAIN_TIMESTEPS = 1000

# Classifier-free guidance of the base stage: video 5.0 while t > 500, 2.0
# after; audio 5.0 throughout.
BASE_VIDEO_GUIDANCE = 5.0
BASE_VIDEO_GUIDANCE_LATE = 2.0
BASE_VIDEO_GUIDANCE_SWITCH = 500
BASE_AUDIO_GUIDANCE = 5.0

# Super-resolution guidance (used only with sr_cfg_number=2): 3.5, but the
# first 13 latent frames get min(2.0, 3.5) against over-exposure in TI2V.
SR_VIDEO_GUIDANCE = 3.5
SR_CFG_TRICK_FRAMES = 13
SR_CFG_TRICK_VALUE = 2.0

# The SR input is re-noised at this entry of the ZeroSNR table.
SR_NOISE_INDEX = 220


@dataclass(frozen=True)
class FlowSchedule:
    """A shifted flow-matching schedule: ``sigmas`` ``[N+1]`` float32 ending in 0, ``timesteps`` ``[N]`` int64."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor

    @property
    def num_steps(self) -> int:
        return int(self.timesteps.shape[0])


def flow_schedule(num_steps: int, shift: float = DEFAULT_SHIFT) -> FlowSchedule:
    """The reference ``FlowUniPCMultistepScheduler.set_timesteps(num_steps, shift=shift)`` schedule.

    ``linspace(0.999, 0, N+1)[:-1]`` in float64 (0.999 as the float32 the
    reference stores), shifted by ``s*sigma / (1 + (s-1)*sigma)``; timesteps
    truncate ``sigma*1000`` to integers; sigmas are cast to float32 with a
    final 0 appended.
    """
    import numpy as np
    import torch

    if num_steps < 1:
        raise ValueError("num_steps must be at least 1")
    # The reference's sigma_max is the float32 1 - 1/1000 read back as a Python float.
    sigma_max = float(np.float32(1.0 - 1.0 / NUM_TRAIN_TIMESTEPS))
    sigmas = np.linspace(sigma_max, 0.0, num_steps + 1)[:-1]
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    timesteps = torch.from_numpy(sigmas * NUM_TRAIN_TIMESTEPS).to(torch.int64)
    sigmas = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
    return FlowSchedule(sigmas=sigmas, timesteps=timesteps)


def zero_snr_table(num_timesteps: int = NUM_TRAIN_TIMESTEPS) -> torch.Tensor:
    """``sqrt(alphas_cumprod)`` of the linear DDPM schedule rescaled to zero terminal SNR, ``[1000]`` float32.

    Index 0 is the cleanest step (about 0.99957), the last is exactly 0. The
    betas are ``linspace(sqrt(0.00085), sqrt(0.012), 1000)**2`` in float64;
    the square roots are shifted and scaled in float32 so that the last
    becomes 0 and the first keeps its value.
    """
    import numpy as np
    import torch

    betas = torch.linspace(0.00085**0.5, 0.0120**0.5, num_timesteps, dtype=torch.float64) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas.numpy(), axis=0)
    root = torch.tensor(alphas_cumprod, dtype=torch.float32).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = root - last
    root = root * (first / (first - last))
    return root


def sr_renoise_sigma(index: int = SR_NOISE_INDEX) -> float:
    """The weight of the upsampled base video when re-noising the SR input (0.838910 at index 220)."""
    return float(zero_snr_table()[index])


def base_video_guidance(timestep: int) -> float:
    """Base-stage video CFG scale at ``timestep``: 5.0 while ``t > 500``, then 2.0."""
    return BASE_VIDEO_GUIDANCE if int(timestep) > BASE_VIDEO_GUIDANCE_SWITCH else BASE_VIDEO_GUIDANCE_LATE


def sr_video_guidance(
    latent_frames: int,
    *,
    scale: float = SR_VIDEO_GUIDANCE,
    trick_frames: int = SR_CFG_TRICK_FRAMES,
    trick_value: float = SR_CFG_TRICK_VALUE,
) -> torch.Tensor:
    """Per-latent-frame SR video CFG scale ``[1, 1, T, 1, 1]`` float32 (the reference's "cfg trick").

    Frames ``< trick_frames`` get ``min(trick_value, scale)``, the rest ``scale``.
    """
    import torch

    scales = torch.full((1, 1, latent_frames, 1, 1), float(scale), dtype=torch.float32)
    scales[:, :, :trick_frames] = min(trick_value, scale)
    return scales


def sde_noise_theta(index: int, num_steps: int) -> float:
    """Noise switch of the (off by default) SDE sampler at step ``index``.

    In the first three quarters (``index < int(3/4 * N)``) every second step
    is stochastic (odd indices); after that every third (indices divisible by 3).
    """
    if index < int(num_steps * (3 / 4)):
        return 1.0 if (index + 1) % 2 == 0 else 0.0
    return 1.0 if index % 3 == 0 else 0.0
