"""A job as a list of pipeline calls: one, or the three of two-stage generation.

Two-stage is how LTX-2.x reaches 1080p (diffusers' LTX-2 docs, Lightricks'
``ti2vid_two_stages`` and ``distilled`` pipelines): generate at half the
size, upsample the latents 2x with ``LTX2LatentUpsamplePipeline`` and the
latent upsampler model, then refine at full size with the 3 stage-2
distilled sigmas, no guidance, starting from the upsampled latents re-noised
to the first of them; the audio latents of the first stage go through the
refining stage too. Every call but the last asks for latents; the last asks
for what the caller wants (the engine: latents, which it decodes in chunks;
the benchmark's stock replay: frames, as a user's script would).

When (``--two-stage``): ``auto`` uses it for outputs of 1080p and up on the
``distilled`` profile when an upsampler was found (the refining steps are
distilled steps: dev weights would need Lightricks' distilled LoRA for them,
which this engine does not load); ``on`` for every job; ``off`` never.

The distilled sigmas are published to be used as they are, while a scheduler
configured with ``use_dynamic_shifting`` (LTX-2.3's, as diffusers' own test
components mirror it) shifts whatever sigmas it is given by the sequence
length, and one with ``shift_terminal`` stretches them. The calls on those
sigmas therefore run on a copy of the scheduler with both off, as diffusers'
two-stage example sets up for its refining stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from happyhorse.engines.ltx2.options import LTX2Options

UPSAMPLER_FOLDER = "latent_upsampler"
TWO_STAGE_MIN_SIDE = 1080


@dataclass(frozen=True, eq=False)
class StageCall:
    """One pipeline call of a job: a denoising call, or the latent upsampler between two (each call is
    itself: two calls with equal arguments are still two calls)."""

    kind: Literal["denoise", "upsample"]
    pipe: Any
    arguments: dict[str, Any]
    """All but the generator, the step callback, the output type and the latents handed on."""

    @property
    def steps(self) -> int:
        return int(self.arguments.get("num_inference_steps", 0))


StepCallbackFactory = Callable[[StageCall], Callable[..., dict]]


def run_stages(stages: Sequence[StageCall], *, generator: Any, output_type: str,
               step_callback: StepCallbackFactory | None = None) -> tuple[Any, Any]:
    """Run ``stages`` in order, each denoising call after the first given the video and audio latents
    the previous calls left; returns the last call's ``(video, audio)`` in ``output_type``."""
    video = audio = None
    for index, stage in enumerate(stages):
        if stage.kind == "upsample":
            video = stage.pipe(latents=video, output_type="latent", return_dict=False)[0]
            continue
        handed_on = {} if video is None else {"latents": video, "audio_latents": audio}
        callback = {} if step_callback is None else {"callback_on_step_end": step_callback(stage)}
        video, audio = stage.pipe(**stage.arguments, **handed_on, **callback, generator=generator,
                                  output_type=output_type if index == len(stages) - 1 else "latent",
                                  return_dict=False)
    return video, audio


def uses_two_stage(options: LTX2Options, has_upsampler: bool, width: int, height: int) -> bool:
    """Whether a ``width x height`` output is generated in two stages (see the module docstring)."""
    if options.two_stage == "auto":
        return has_upsampler and options.profile == "distilled" and min(width, height) >= TWO_STAGE_MIN_SIDE
    return options.two_stage == "on"


def find_upsampler(weights: Path, explicit: Path | None) -> Path | None:
    """The latent upsampler's model folder: ``explicit`` itself, or its ``latent_upsampler/`` (a
    ``LTX2LatentUpsamplePipeline`` repository); without one, ``weights/latent_upsampler`` if it exists."""
    if explicit is not None:
        nested = explicit / UPSAMPLER_FOLDER
        return nested if (nested / "config.json").is_file() else explicit
    default = weights / UPSAMPLER_FOLDER
    return default if default.is_dir() else None


def load_upsampler(folder: Path, dtype: Any) -> Any:
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    return LTX2LatentUpsamplerModel.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)


def fixed_sigma_scheduler(scheduler: Any) -> Any:
    """A copy of ``scheduler`` that runs the sigmas it is given as they are (no shift, no terminal stretch)."""
    return type(scheduler).from_config(scheduler.config, use_dynamic_shifting=False, shift=1.0, shift_terminal=None)
