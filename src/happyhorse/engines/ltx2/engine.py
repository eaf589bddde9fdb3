"""The ``ltx2`` engine: LTX-2 (Lightricks) through diffusers, video with its own audio.

One model family serves the three modes, sharing one set of weights loaded
once per worker:

- t2v: ``LTX2Pipeline``;
- i2v: ``LTX2ImageToVideoPipeline`` (the image, cropped to the output's aspect,
  is the first frame);
- r2v: ``LTX2InContextPipeline`` with one ``LTX2ReferenceCondition`` per
  reference image, in request order, so ``characterN`` in the prompt is the
  N-th image; an optional IC-LoRA trained for reference conditioning is
  switched on for r2v jobs only.

The soundtrack is the pipeline's own: its audio VAE and vocoder, cut to the
clip's exact length (the encoder resamples it to 48 kHz stereo). Frames come
at the nearest valid size and length (see :mod:`happyhorse.engines.ltx2.shapes`) and are fitted
to the SPEC's exact size and frame count.

torch and diffusers are imported when the engine is built, never at import
time, so selecting ``ltx2`` without the ``diffusion`` extra fails at start-up
with the command to install it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from happyhorse.engines.base import Clip, EngineContext, GenerationSpec, JobCancelled, check_spec
from happyhorse.engines.ltx2.options import LTX2Options, require_diffusion
from happyhorse.engines.ltx2.shapes import GenerationShape, fit_image, fitted_frames, generation_shape, trim_audio
from happyhorse.engines.ltx2.weights import check_weights

__all__ = ["LTX2Engine"]

log = logging.getLogger("happyhorse.engine.ltx2")

# Shares of the engine's progress: denoising is nearly all of the time; decoding
# and fitting the frames (pulled by the encoder) share the rest.
DENOISE_SHARE, DECODED_AT = 0.9, 0.93
IC_LORA_ADAPTER = "ic_lora"


class LTX2Engine:
    """LTX-2 video + audio generation on a GPU (or, slowly, the CPU).

    Builds the pipelines from ``weights`` at once (the worker keeps the engine
    for its lifetime). Raises :class:`~happyhorse.engines.ltx2.options.EngineUnavailable`
    when the ``diffusion`` extra is missing and ``ValueError`` for bad options
    or an incomplete weights directory, so a worker fails before claiming a job.
    """

    name = "ltx2"
    description = "LTX-2 (Lightricks) video+audio diffusion model via diffusers, weights from a local directory"

    def __init__(self, weights: Path | str | None = None, **options: Any) -> None:
        self.options = LTX2Options.parse(weights, options)
        require_diffusion()
        report = check_weights(self.options.weights)
        if not report.complete:
            raise ValueError(f"{report.summary()} (run `happyhorse weights check {self.options.weights}`)")
        import torch
        from diffusers import LTX2Pipeline

        device, dtype = self._placement(torch)
        # Every component once, from the local directory only (nothing is downloaded).
        pipeline = LTX2Pipeline.from_pretrained(self.options.weights, dtype=dtype, local_files_only=True)
        self._configure(pipeline, device, dtype)

    @classmethod
    def from_pipeline(cls, pipeline: Any, **options: Any) -> LTX2Engine:
        """An engine around an already-built ``LTX2Pipeline`` (the GPU benchmark's random weights).

        ``options`` are the constructor's, without ``weights``.
        """
        import torch

        engine = cls.__new__(cls)
        engine.options = LTX2Options.parse("<in memory>", options)
        device, dtype = engine._placement(torch)
        engine._configure(pipeline, device, dtype)
        return engine

    # -- loading -----------------------------------------------------------------

    def _placement(self, torch: Any) -> tuple[Any, Any]:
        device = torch.device(self.options.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype_name = self.options.dtype or ("bfloat16" if device.type == "cuda" else "float32")
        return device, getattr(torch, dtype_name)

    def _configure(self, pipeline: Any, device: Any, dtype: Any) -> None:
        from diffusers import LTX2ImageToVideoPipeline, LTX2InContextPipeline

        opts = self.options
        self.device, self.dtype = device, dtype
        # 1. The t2v pipeline holds the components; the i2v and in-context ones
        #    share those modules (no second copy in memory).
        self.t2v = pipeline
        self.i2v = LTX2ImageToVideoPipeline.from_pipe(self.t2v)
        self.r2v = LTX2InContextPipeline.from_pipe(self.t2v)
        self.pipelines = (self.t2v, self.i2v, self.r2v)
        # 2. Operator options that change the modules themselves (shared, so set once).
        transformer = self.t2v.transformer
        if opts.attention_backend:
            transformer.set_attention_backend(opts.attention_backend)
        if opts.cache:
            transformer.enable_cache(self._cache_config())
        if opts.vae_tiling:
            self.t2v.vae.enable_tiling()
        if opts.ic_lora is not None:
            self.r2v.load_lora_weights(str(opts.ic_lora), adapter_name=IC_LORA_ADAPTER)
        # 3. Placement: all on the device, or offloaded to the CPU between uses. Offload
        #    hooks are per pipeline (each chains its own components), so each gets them.
        if opts.cpu_offload == "none":
            self.t2v.to(device)  # the modules are shared: one move places all three
        for pipe in self.pipelines:
            if opts.cpu_offload == "model":
                pipe.enable_model_cpu_offload(device=device)
            elif opts.cpu_offload == "sequential":
                pipe.enable_sequential_cpu_offload(device=device)
            pipe.set_progress_bar_config(disable=True)
        if opts.compile:
            transformer.compile_repeated_blocks(fullgraph=True)
        log.info("ltx2: %s on %s (%s), profile %s, %d steps",
                 opts.weights, device, dtype, opts.profile, opts.num_steps)

    def _cache_config(self) -> Any:
        from diffusers import TaylorSeerCacheConfig

        _, interval = self.options.cache_spec()
        return TaylorSeerCacheConfig(cache_interval=int(interval) if interval is not None else 5)

    # -- one job -----------------------------------------------------------------

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip:
        """Generate ``spec``: frames of its exact size and count, the model's audio of its exact length.

        Progress is reported after every denoising step; a cancel seen at a step
        raises :class:`JobCancelled` there, before any decoding.
        """
        import torch

        # 1. Check inputs (before any work, so a bad spec fails the job at once).
        check_spec(spec)
        if ctx.cancelled():
            raise JobCancelled()

        # 2-3. Nearest valid size and length; the pipeline and its mode-specific inputs.
        shape, pipe, arguments = self.plan(spec)
        ctx.log.debug("ltx2: generating %dx%dx%d for %dx%dx%d", shape.width, shape.height, shape.num_frames,
                      spec.width, spec.height, spec.num_frames)

        # 4. Denoise with a step callback (progress, cancellation), then decode video and audio.
        generator = torch.Generator(device="cpu").manual_seed(spec.seed)
        try:
            with torch.inference_mode():
                output = pipe(
                    **arguments,
                    generator=generator,
                    callback_on_step_end=_StepCallback(ctx, self.options.num_steps),
                    output_type="np",
                    return_dict=True,
                )
        except JobCancelled:
            pipe.maybe_free_model_hooks()  # leave offloaded modules where the next job expects them
            raise
        ctx.report_progress(DECODED_AT)

        # 5. Exact length of audio and frames; frames fitted lazily as the encoder pulls them.
        sample_rate = int(pipe.vocoder.config.output_sampling_rate)
        audio = trim_audio(_to_numpy(output.audio[0]), sample_rate, spec.num_frames, spec.fps)
        frames = np.asarray(output.frames[0])
        return Clip(
            frames=_reporting(fitted_frames(frames, shape), ctx, shape.out_frames),
            fps=spec.fps,
            audio=audio,
            sample_rate=sample_rate,
            num_frames=spec.num_frames,
        )

    def plan(self, spec: GenerationSpec) -> tuple[GenerationShape, Any, dict[str, Any]]:
        """What :meth:`generate` runs for ``spec``: the valid shape, the pipeline and its keyword
        arguments (all but ``generator``, the step callback and the output type).

        Lets the GPU benchmark time the stock pipeline call with exactly the engine's settings.
        """
        shape = generation_shape(spec.width, spec.height, spec.num_frames, scale=self.options.scale)
        pipe, inputs = self._mode_inputs(spec, shape)
        return shape, pipe, {**inputs, **self._call_arguments(spec, shape)}

    def _mode_inputs(self, spec: GenerationSpec, shape: GenerationShape) -> tuple[Any, dict[str, Any]]:
        if spec.mode == "t2v":
            self._use_ic_lora(False)
            return self.t2v, {}
        if spec.mode == "i2v":
            self._use_ic_lora(False)
            # Cropped to the output's aspect first: the pipeline itself would stretch it.
            return self.i2v, {"image": fit_image(spec.images[0], shape.width, shape.height)}
        from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition

        self._use_ic_lora(True)
        down = self.options.reference_downscale
        references = [
            LTX2ReferenceCondition(frames=fit_image(image, shape.width // down, shape.height // down),
                                   strength=self.options.reference_strength)
            for image in spec.images
        ]
        return self.r2v, {"reference_conditions": references, "reference_downscale_factor": down}

    def _use_ic_lora(self, active: bool) -> None:
        # The transformer is shared by the three pipelines: the IC-LoRA must be
        # off for t2v and i2v and on for r2v.
        if self.options.ic_lora is None:
            return
        if active:
            self.r2v.enable_lora()
            self.r2v.set_adapters([IC_LORA_ADAPTER], [self.options.ic_lora_scale])
        else:
            self.r2v.disable_lora()

    def _call_arguments(self, spec: GenerationSpec, shape: GenerationShape) -> dict[str, Any]:
        from diffusers.pipelines.ltx2.utils import DEFAULT_NEGATIVE_PROMPT, DISTILLED_SIGMA_VALUES

        opts = self.options
        arguments: dict[str, Any] = {
            "prompt": spec.prompt,
            "height": shape.height,
            "width": shape.width,
            "num_frames": shape.num_frames,
            "frame_rate": float(spec.fps),
            "num_inference_steps": opts.num_steps,
            "guidance_scale": opts.guidance_scale,
            "max_sequence_length": opts.max_sequence_length,
        }
        if opts.profile == "distilled" and opts.num_steps == len(DISTILLED_SIGMA_VALUES):
            arguments["sigmas"] = list(DISTILLED_SIGMA_VALUES)
        if opts.guidance_scale <= 1.0:
            # No guidance at all: one transformer pass per step (what distilled weights expect).
            arguments.update(audio_guidance_scale=1.0, stg_scale=0.0, audio_stg_scale=0.0,
                             modality_scale=1.0, audio_modality_scale=1.0)
        else:
            arguments["negative_prompt"] = opts.negative_prompt or DEFAULT_NEGATIVE_PROMPT
        return arguments


class _StepCallback:
    """``callback_on_step_end``: progress after each step, and the cancel check.

    Raising here leaves the pipeline's loop at once, so nothing is decoded.
    """

    def __init__(self, ctx: EngineContext, num_steps: int) -> None:
        self.ctx, self.num_steps = ctx, max(num_steps, 1)

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
        if self.ctx.cancelled():
            raise JobCancelled()
        self.ctx.report_progress(DENOISE_SHARE * min(step + 1, self.num_steps) / self.num_steps)
        return {}


def _reporting(frames: Iterator[np.ndarray], ctx: EngineContext, total: int) -> Iterator[np.ndarray]:
    for index, frame in enumerate(frames, 1):
        yield frame
        ctx.report_progress(DECODED_AT + (1 - DECODED_AT) * index / total)


def _to_numpy(audio: Any) -> np.ndarray:
    if hasattr(audio, "detach"):
        return audio.detach().float().cpu().numpy()
    return np.asarray(audio, dtype=np.float32)
