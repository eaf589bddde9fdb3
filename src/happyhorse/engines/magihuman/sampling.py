"""The denoising loop of daVinci-MagiHuman, around any velocity function.

Public API::

    noise = gaussian_noise(torch.Generator().manual_seed(seed))
    video, audio = initial_latents(noise, video_shape=(1, z, T, h, w), audio_frames=A)
    video, audio = denoise(
        velocity, video, audio,
        prompt=TextCondition(embedding, length),
        num_steps=8, sampler="ddim",                           # distilled
        # or: num_steps=32, sampler="unipc", guidance=base_guidance(negative)
        image=image_latent,                                     # TI2V: pinned in frame 0
        noise=noise, callback=on_step,
    )

``velocity(video, audio, text)`` returns the model's velocities
``(v_video, v_audio)`` for latents ``[1, C, T, H, W]`` / ``[1, A, 64]`` under
one text condition; ``dit_velocity`` builds it from our DiT and packing.
``callback`` gets a ``StepInfo`` after every step; raising from it (to
cancel) stops the loop there. Random draws follow the reference's order
(initial audio, initial video, then per step video before audio), so a
seeded CPU generator replays its runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

from happyhorse.engines.magihuman.schedules import (
    BASE_AUDIO_GUIDANCE,
    DEFAULT_SHIFT,
    base_video_guidance,
    flow_schedule,
    sde_noise_theta,
)
from happyhorse.engines.magihuman.solvers import DDIMSolver, NoiseFn, SDESolver, Solver, UniPCSolver

if TYPE_CHECKING:
    import torch

    from happyhorse.engines.magihuman.packing import PackingConfig

__all__ = [
    "Guidance",
    "Sampler",
    "StepCallback",
    "StepInfo",
    "TextCondition",
    "VelocityFn",
    "base_guidance",
    "denoise",
    "dit_velocity",
    "gaussian_noise",
    "initial_latents",
    "make_solver",
]

Sampler = Literal["unipc", "ddim", "sde"]


@dataclass(frozen=True)
class TextCondition:
    """A text embedding ``[1, L, C]`` of which the first ``length`` rows are real tokens."""

    embedding: torch.Tensor
    length: int


VelocityFn = Callable[["torch.Tensor", "torch.Tensor", TextCondition], "tuple[torch.Tensor, torch.Tensor]"]
# A guidance scale: a number, or a tensor that broadcasts against the video (per latent frame).
Scale = Union[float, "torch.Tensor"]


@dataclass(frozen=True)
class StepInfo:
    """What the step callback learns after each step."""

    stage: str  # "base" or "sr"
    index: int  # the step just taken, from 0
    num_steps: int
    timestep: int


StepCallback = Callable[[StepInfo], None]


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance: ``v = v_neg + g (v_cond - v_neg)`` with ``negative`` as the other text.

    ``video_scale(timestep)`` gives the video scale at each step (a number, or
    a tensor broadcasting over the video, as the SR stage's per-frame scale);
    ``audio_scale`` is fixed.
    """

    negative: TextCondition
    video_scale: Callable[[int], Scale]
    audio_scale: float = BASE_AUDIO_GUIDANCE


def base_guidance(negative: TextCondition) -> Guidance:
    """The base model's CFG: video 5.0 while t > 500 then 2.0, audio 5.0."""
    return Guidance(negative=negative, video_scale=base_video_guidance, audio_scale=BASE_AUDIO_GUIDANCE)


def gaussian_noise(generator: torch.Generator | None = None) -> NoiseFn:
    """A ``NoiseFn`` drawing float32 standard normals on ``generator``'s device, moved to the target's.

    The reference draws on the CPU, so a CPU generator gives the same noise
    whatever device the latents live on.
    """
    import torch

    def draw(like: torch.Tensor) -> torch.Tensor:
        device = generator.device if generator is not None else torch.device("cpu")
        out = torch.randn(like.shape, generator=generator, dtype=torch.float32, device=device)
        return out.to(device=like.device, dtype=like.dtype)

    return draw


def initial_latents(
    noise: NoiseFn, *, video_shape: tuple[int, int, int, int, int], audio_frames: int, audio_channels: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pure-noise starting latents: audio ``[1, A, 64]`` is drawn first, then video ``video_shape``."""
    import torch

    audio = noise(torch.empty((1, audio_frames, audio_channels)))
    video = noise(torch.empty(video_shape))
    return video, audio


def make_solver(sampler: Sampler, sigmas: torch.Tensor) -> Solver:
    """A fresh solver for one modality over ``sigmas``."""
    if sampler == "unipc":
        return UniPCSolver(sigmas)
    if sampler == "ddim":
        return DDIMSolver(sigmas)
    if sampler == "sde":
        steps = int(sigmas.shape[0]) - 1
        return SDESolver(sigmas, lambda index: sde_noise_theta(index, steps))
    raise ValueError(f"unknown sampler {sampler!r} (unipc, ddim or sde)")


def _pin(video: torch.Tensor, image: torch.Tensor | None) -> torch.Tensor:
    if image is None:
        return video
    video = video.clone()
    video[:, :, :1] = image[:, :, :1].to(video.dtype)
    return video


def _no_noise(like: torch.Tensor) -> torch.Tensor:
    raise ValueError("this sampler draws noise: pass noise=gaussian_noise(generator)")


def denoise(
    velocity: VelocityFn,
    video: torch.Tensor,
    audio: torch.Tensor,
    *,
    prompt: TextCondition,
    num_steps: int,
    sampler: Sampler,
    guidance: Guidance | None = None,
    image: torch.Tensor | None = None,
    update_audio: bool = True,
    noise: NoiseFn | None = None,
    callback: StepCallback | None = None,
    stage: str = "base",
    shift: float = DEFAULT_SHIFT,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run one stage from ``video`` / ``audio`` to clean latents and return them.

    ``sampler``: ``"ddim"`` for the distilled model (8 steps, no guidance),
    ``"unipc"`` for the base model (32 steps, ``guidance=base_guidance(...)``)
    and the SR stage, ``"sde"`` for the reference's optional SDE variant.
    ``image`` ``[1, C, 1, H, W]`` (TI2V) overwrites latent frame 0 before
    every step and once at the end. With ``update_audio=False`` (the SR
    stage) the audio is only read, and returned unchanged.
    """
    schedule = flow_schedule(num_steps, shift)
    video_solver = make_solver(sampler, schedule.sigmas)
    audio_solver = make_solver(sampler, schedule.sigmas)
    draw = noise if noise is not None else _no_noise
    for index, timestep in enumerate(int(t) for t in schedule.timesteps):
        video = _pin(video, image)
        v_video, v_audio = velocity(video, audio, prompt)
        if guidance is not None:
            u_video, u_audio = velocity(video, audio, guidance.negative)
            v_video = u_video + guidance.video_scale(timestep) * (v_video - u_video)
            v_audio = u_audio + guidance.audio_scale * (v_audio - u_audio)
        video = video_solver.step(index, video, v_video, draw)
        if update_audio:
            audio = audio_solver.step(index, audio, v_audio, draw)
        if callback is not None:
            callback(StepInfo(stage=stage, index=index, num_steps=num_steps, timestep=timestep))
    return _pin(video, image), audio


def dit_velocity(dit: Callable[..., torch.Tensor], packing_config: PackingConfig) -> VelocityFn:
    """Wrap our DiT: pack ``[video | audio | text]``, run the DiT, unpack the velocities.

    ``packing_config``: ``coords_style="v1"`` for the SR model, ``"v2"``
    otherwise; ``frame_receptive_field`` as the model's data proxy sets it.
    """
    from happyhorse.engines.magihuman.packing import pack, unpack

    def velocity(video: torch.Tensor, audio: torch.Tensor, text: TextCondition) -> tuple[torch.Tensor, torch.Tensor]:
        packed = pack(video, audio, text.embedding, text_len=text.length, config=packing_config)
        return unpack(dit(packed), packed)

    return velocity
