"""The keyword arguments of one LTX-2 pipeline call: the mode's inputs, the schedule, the guidance.

Everything a call is given except the generator, the step callback, the
output type and the latents a previous stage hands on, so that the engine
and the GPU benchmark's stock calls run with exactly the same settings.
"""

from __future__ import annotations

from typing import Any

from happyhorse.engines.base import GenerationSpec
from happyhorse.engines.ltx2.family import Family
from happyhorse.engines.ltx2.options import LTX2Options
from happyhorse.engines.ltx2.shapes import GenerationShape, fit_image

# With guidance off, every guidance term is off: one transformer pass per step,
# which is what distilled weights (and the distilled refining stage) expect.
NO_GUIDANCE = {"guidance_scale": 1.0, "audio_guidance_scale": 1.0, "stg_scale": 0.0, "audio_stg_scale": 0.0,
               "modality_scale": 1.0, "audio_modality_scale": 1.0}


def mode_inputs(spec: GenerationSpec, shape: GenerationShape, options: LTX2Options) -> dict[str, Any]:
    """What the mode's pipeline takes beyond the prompt: the i2v image, the r2v reference conditions."""
    if spec.mode == "t2v":
        return {}
    if spec.mode == "i2v":
        # Cropped to the output's aspect first: the pipeline itself would stretch it.
        return {"image": fit_image(spec.images[0], shape.width, shape.height)}
    from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition

    down = options.reference_downscale
    references = [
        LTX2ReferenceCondition(frames=fit_image(image, shape.width // down, shape.height // down),
                               strength=options.reference_strength)
        for image in spec.images
    ]
    return {"reference_conditions": references, "reference_downscale_factor": down}


def generate_arguments(spec: GenerationSpec, shape: GenerationShape, options: LTX2Options,
                       family: Family) -> dict[str, Any]:
    """A call that generates from noise: the profile's steps and guidance (the distilled sigmas on ``distilled``)."""
    from diffusers.pipelines.ltx2.utils import DEFAULT_NEGATIVE_PROMPT, DISTILLED_SIGMA_VALUES

    arguments = _common(spec, shape, options, family)
    arguments.update(num_inference_steps=options.num_steps, guidance_scale=options.guidance_scale)
    if options.distilled_schedule:
        arguments["sigmas"] = list(DISTILLED_SIGMA_VALUES)
    if options.guidance_scale <= 1.0:
        arguments.update(NO_GUIDANCE)
    else:
        arguments["negative_prompt"] = options.negative_prompt or DEFAULT_NEGATIVE_PROMPT
    return arguments


def refine_arguments(spec: GenerationSpec, shape: GenerationShape, options: LTX2Options,
                     family: Family) -> dict[str, Any]:
    """The second stage of two: the published 3 stage-2 distilled sigmas at full size, no guidance, the
    upsampled latents re-noised to the first sigma (as diffusers' two-stage examples and Lightricks' pipelines do)."""
    from diffusers.pipelines.ltx2.utils import STAGE_2_DISTILLED_SIGMA_VALUES

    arguments = _common(spec, shape, options, family)
    arguments.update(NO_GUIDANCE, num_inference_steps=len(STAGE_2_DISTILLED_SIGMA_VALUES),
                     sigmas=list(STAGE_2_DISTILLED_SIGMA_VALUES), noise_scale=STAGE_2_DISTILLED_SIGMA_VALUES[0])
    return arguments


def _common(spec: GenerationSpec, shape: GenerationShape, options: LTX2Options, family: Family) -> dict[str, Any]:
    return {
        **mode_inputs(spec, shape, options),
        "prompt": spec.prompt,
        "height": shape.height,
        "width": shape.width,
        "num_frames": shape.num_frames,
        "frame_rate": float(spec.fps),
        "max_sequence_length": options.max_sequence_length,
        **family.call_arguments(),
    }
