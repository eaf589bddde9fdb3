"""The ``ltx2`` engine: LTX-2 or LTX-2.3 (Lightricks) through diffusers, video with its own audio.

One model family serves the three modes, sharing one set of weights loaded
once per worker:

- t2v: ``LTX2Pipeline``;
- i2v: ``LTX2ImageToVideoPipeline`` (the image, cropped to the output's aspect,
  is the first frame);
- r2v: ``LTX2InContextPipeline`` with one ``LTX2ReferenceCondition`` per
  reference image, in request order, so ``characterN`` in the prompt is the
  N-th image; an optional IC-LoRA trained for reference conditioning is
  switched on for r2v jobs only.

Which generation the weights are (:mod:`~happyhorse.engines.ltx2.family`)
sets the call arguments that differ between them; 1080p outputs may go
through two stages (:mod:`~happyhorse.engines.ltx2.stages`). The soundtrack
is the pipeline's own: its audio VAE and vocoder (24 kHz for LTX-2, 48 kHz for
LTX-2.3), cut to the clip's exact length (the encoder resamples to 48 kHz
stereo). Frames come at the nearest valid size and length
(:mod:`~happyhorse.engines.ltx2.shapes`) and are fitted to the SPEC's exact
size and frame count.

Memory and threads. :meth:`LTX2Engine.generate` does the heavy work before it
returns (text encoding, every denoising step, the audio decode) and hands back
the video as latents behind a lazy iterator: each chunk of latent frames is
decoded when the encoder pulls its first frame
(:mod:`~happyhorse.engines.ltx2.decode`), so host memory holds a chunk, not the
clip. The worker may therefore run the next job's ``generate`` while this
job's frames are pulled on another thread (``pipelined = True``). With
``cpu_offload="none"`` every module stays on the device and the two run side by
side: a decode only reads the VAE, which nothing modifies. With ``model`` or
``sequential`` offload, accelerate's hooks move modules between host and device
on every use, so a decode racing a generate would find modules moved under
it; there a lock serialises them: a chunk's decode and a ``generate``'s
device work (denoising, audio decode) never overlap. The encoder then waits
while the next job denoises, the price of offloading; decoding eagerly instead
would hold the whole clip again.

torch and diffusers are imported when the engine is built, never at import
time, so selecting ``ltx2`` without the ``diffusion`` extra fails at start-up
with the command to install it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from happyhorse.engines.base import Clip, EngineContext, GenerationSpec, JobCancelled, check_spec
from happyhorse.engines.ltx2.calls import generate_arguments, refine_arguments
from happyhorse.engines.ltx2.decode import ChunkedVideoDecoder
from happyhorse.engines.ltx2.family import family_of
from happyhorse.engines.ltx2.options import LTX2Options, require_diffusion
from happyhorse.engines.ltx2.shapes import GenerationShape, fitted_frames, generation_shape, trim_audio
from happyhorse.engines.ltx2.stages import (
    StageCall,
    find_upsampler,
    fixed_sigma_scheduler,
    load_upsampler,
    run_stages,
    uses_two_stage,
)
from happyhorse.engines.ltx2.weights import check_weights

__all__ = ["LTX2Engine"]

log = logging.getLogger("happyhorse.engine.ltx2")

# Shares of the engine's progress: denoising is nearly all of the time; decoding
# and fitting the frames (pulled by the encoder) share the rest.
DENOISE_SHARE, DECODED_AT = 0.9, 0.93
IC_LORA_ADAPTER = "ic_lora"
MODES = ("t2v", "i2v", "r2v")


class LTX2Engine:
    """LTX-2 / LTX-2.3 video + audio generation on a GPU (or, slowly, the CPU).

    Builds the pipelines from ``weights`` at once (the worker keeps the engine
    for its lifetime). Raises :class:`~happyhorse.engines.ltx2.options.EngineUnavailable`
    when the ``diffusion`` extra is missing and ``ValueError`` for bad options
    or an incomplete weights directory, so a worker fails before claiming a job.
    """

    name = "ltx2"
    description = ("LTX-2 / LTX-2.3 (Lightricks) video+audio diffusion model via diffusers, "
                   "weights from a local directory")
    pipelined = True
    """:meth:`generate` does the heavy work before it returns; the frames it hands back decode lazily and
    may be pulled on another thread while the next :meth:`generate` runs (see the module docstring)."""

    def __init__(self, weights: Path | str | None = None, **options: Any) -> None:
        self.options = LTX2Options.parse(weights, options)
        require_diffusion()
        report = check_weights(self.options.weights, upsampler=self.options.upsampler)
        if not report.complete:
            raise ValueError(f"{report.summary()} (run `happyhorse weights check {self.options.weights}`)")
        import torch
        from diffusers import LTX2Pipeline

        device, dtype = self._placement(torch)
        # Every component once, from the local directory only (nothing is downloaded).
        pipeline = LTX2Pipeline.from_pretrained(self.options.weights, dtype=dtype, local_files_only=True)
        folder = find_upsampler(self.options.weights, self.options.upsampler)
        upsampler = load_upsampler(folder, dtype) if folder is not None else None
        self._configure(pipeline, upsampler, device, dtype)

    @classmethod
    def from_pipeline(cls, pipeline: Any, *, upsampler: Any = None, **options: Any) -> LTX2Engine:
        """An engine around an already-built ``LTX2Pipeline`` and, optionally, an already-built
        ``LTX2LatentUpsamplerModel`` (the GPU benchmark's random weights); with one, 1080p specs go
        two-stage exactly as with weights loaded from a directory.

        ``options`` are the constructor's, without ``weights`` and ``upsampler``.
        """
        import torch

        engine = cls.__new__(cls)
        engine.options = LTX2Options.parse("<in memory>", options)
        device, dtype = engine._placement(torch)
        engine._configure(pipeline, upsampler, device, dtype)
        return engine

    # -- loading -----------------------------------------------------------------

    def _placement(self, torch: Any) -> tuple[Any, Any]:
        device = torch.device(self.options.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype_name = self.options.dtype or ("bfloat16" if device.type == "cuda" else "float32")
        return device, getattr(torch, dtype_name)

    def _configure(self, pipeline: Any, upsampler: Any, device: Any, dtype: Any) -> None:
        opts = self.options
        if opts.two_stage == "on" and upsampler is None:
            raise ValueError("two_stage is on but there is no latent upsampler (give --upsampler DIR, or put it in "
                             f"{opts.weights}/latent_upsampler)")
        self.device, self.dtype = device, dtype
        self.family = family_of(pipeline.transformer.config)
        self._build_pipelines(pipeline, upsampler)
        self._apply_module_options(pipeline)
        self._place(pipeline, upsampler, device)
        if opts.compile:  # last, on the placed modules
            pipeline.transformer.compile_repeated_blocks(fullgraph=True)
        # Generating and lazily decoding share the device; with offload they take turns.
        offloaded = opts.cpu_offload != "none"
        self._device_lock = threading.Lock() if offloaded else contextlib.nullcontext()
        t2v = self.pipelines["t2v"]
        self.decoder = ChunkedVideoDecoder(
            pipeline.vae, t2v.video_processor, chunk=opts.decode_chunk, context=opts.decode_context,
            device_lock=self._device_lock, after_chunk=t2v.maybe_free_model_hooks if offloaded else None)
        log.info("ltx2: %s (%s) on %s (%s), profile %s, %d steps, two-stage %s%s",
                 opts.weights, self.family.name, device, dtype, opts.profile, opts.num_steps, opts.two_stage,
                 "" if upsampler is not None else " (no latent upsampler)")

    def _build_pipelines(self, pipeline: Any, upsampler: Any) -> None:
        """One pipeline per mode, all sharing ``pipeline``'s modules (no second copy in memory); with an
        upsampler, the refining (second-stage) pipelines and the upsampling one share them too.

        The calls on distilled sigmas (the refining stage; the first stage on the ``distilled`` profile's
        own 8 steps) run on a copy of the scheduler that takes sigmas as they are (see
        :mod:`~happyhorse.engines.ltx2.stages`).
        """
        from diffusers import LTX2ImageToVideoPipeline, LTX2InContextPipeline, LTX2LatentUpsamplePipeline

        distilled = self.options.distilled_schedule
        fixed = fixed_sigma_scheduler(pipeline.scheduler)
        classes = {"t2v": type(pipeline), "i2v": LTX2ImageToVideoPipeline, "r2v": LTX2InContextPipeline}
        first = {"scheduler": fixed} if distilled else {}
        self.pipelines = {mode: classes[mode].from_pipe(pipeline, **first) for mode in MODES}
        self.refiners: dict[str, Any] = {}
        self.upsample = None
        if upsampler is not None:
            self.refiners = dict(self.pipelines) if distilled else {
                mode: classes[mode].from_pipe(pipeline, scheduler=fixed) for mode in MODES}
            self.upsample = LTX2LatentUpsamplePipeline(vae=pipeline.vae, latent_upsampler=upsampler)

    def _apply_module_options(self, pipeline: Any) -> None:
        """Operator options that change the modules themselves (shared, so set once)."""
        opts, transformer = self.options, pipeline.transformer
        if opts.attention_backend:
            transformer.set_attention_backend(opts.attention_backend)
        if opts.cache:
            transformer.enable_cache(self._cache_config())
        if opts.vae_tiling:
            pipeline.vae.enable_tiling()
        if opts.ic_lora is not None:
            self.pipelines["r2v"].load_lora_weights(str(opts.ic_lora), adapter_name=IC_LORA_ADAPTER)

    def _place(self, pipeline: Any, upsampler: Any, device: Any) -> None:
        """All on the device, or offloaded to the CPU between uses. Offload hooks are per pipeline
        (each chains its own components), so each gets them."""
        offload = self.options.cpu_offload
        if offload == "none":
            pipeline.to(device)  # the modules are shared: one move places them all
            if upsampler is not None:
                upsampler.to(device)
        every = {id(pipe): pipe for pipe in (*self.pipelines.values(), *self.refiners.values(), self.upsample)}
        for pipe in every.values():
            if pipe is None:
                continue
            if offload == "model":
                pipe.enable_model_cpu_offload(device=device)
            elif offload == "sequential":
                pipe.enable_sequential_cpu_offload(device=device)
            pipe.set_progress_bar_config(disable=True)

    def _cache_config(self) -> Any:
        from diffusers import TaylorSeerCacheConfig

        _, interval = self.options.cache_spec()
        return TaylorSeerCacheConfig(cache_interval=int(interval) if interval is not None else 5)

    # -- one job -----------------------------------------------------------------

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip:
        """Generate ``spec``: frames of its exact size and count, the model's audio of its exact length.

        Progress is reported after every denoising step; a cancel seen at a step
        raises :class:`JobCancelled` there, before any decoding. The frames decode
        lazily as they are pulled, checking for a cancel before each chunk.
        """
        import torch

        # 1. Check inputs (before any work, so a bad spec fails the job at once).
        check_spec(spec)
        if ctx.cancelled():
            raise JobCancelled()

        # 2-3. Nearest valid size and length; the calls and their mode-specific inputs.
        shape, stages = self.plan_stages(spec)
        ctx.log.debug("ltx2: generating %dx%dx%d for %dx%dx%d in %d call(s)", shape.width, shape.height,
                      shape.num_frames, spec.width, spec.height, spec.num_frames, len(stages))

        # 4. Denoise with a step callback (progress, cancellation), then decode the audio; the
        #    video stays latents until the encoder pulls it.
        generator = torch.Generator(device="cpu").manual_seed(spec.seed)
        with self._device_lock:
            self._use_ic_lora(spec.mode == "r2v")
            try:
                with torch.inference_mode():
                    video, audio_latents = run_stages(stages, generator=generator, output_type="latent",
                                                      step_callback=_ProgressCallbacks(ctx, stages))
                    audio, sample_rate = self._decode_audio(audio_latents)
            except JobCancelled:
                for stage in stages:  # leave offloaded modules where the next job expects them
                    stage.pipe.maybe_free_model_hooks()
                raise
        ctx.report_progress(DECODED_AT)

        # 5. Exact length of audio and frames; frames decoded and fitted lazily as the encoder pulls them.
        frames = fitted_frames(self.decoder.frames(video, ctx), shape)
        return Clip(
            frames=_reporting(frames, ctx, shape.out_frames),
            fps=spec.fps,
            audio=trim_audio(audio, sample_rate, spec.num_frames, spec.fps),
            sample_rate=sample_rate,
            num_frames=spec.num_frames,
        )

    def plan(self, spec: GenerationSpec) -> tuple[GenerationShape, Any, dict[str, Any]]:
        """The first pipeline call :meth:`generate` makes for ``spec``: the valid (final) shape, the
        pipeline and its keyword arguments (all but ``generator``, the step callback and the output type).

        For a single-call job that is the whole job: the GPU benchmark times ``pipe(**arguments)`` as the
        stock call. For a two-stage job it is the half-size first stage; :meth:`plan_stages` has them all.
        """
        shape, stages = self.plan_stages(spec)
        return shape, stages[0].pipe, stages[0].arguments

    def plan_stages(self, spec: GenerationSpec) -> tuple[GenerationShape, list[StageCall]]:
        """Every pipeline call :meth:`generate` makes for ``spec``, in order, and the valid (final) shape.

        ``stages.run_stages(calls, generator=..., output_type="np")`` replays them as a user's script
        would (the stock two-stage run); :meth:`generate` runs the same calls for latents.
        """
        opts, mode = self.options, spec.mode
        two_stage = uses_two_stage(opts, self.upsample is not None, spec.width, spec.height)
        shape = generation_shape(spec.width, spec.height, spec.num_frames, scale=opts.scale, two_stage=two_stage)
        if not two_stage:
            return shape, [StageCall("denoise", self.pipelines[mode],
                                     generate_arguments(spec, shape, opts, self.family))]
        half = replace(shape, width=shape.width // 2, height=shape.height // 2)
        return shape, [
            StageCall("denoise", self.pipelines[mode], generate_arguments(spec, half, opts, self.family)),
            StageCall("upsample", self.upsample, {}),
            StageCall("denoise", self.refiners[mode], refine_arguments(spec, shape, opts, self.family)),
        ]

    def _use_ic_lora(self, active: bool) -> None:
        # The transformer is shared by every pipeline: the IC-LoRA must be off for t2v
        # and i2v and on for r2v.
        if self.options.ic_lora is None:
            return
        r2v = self.pipelines["r2v"]
        if active:
            r2v.enable_lora()
            r2v.set_adapters([IC_LORA_ADAPTER], [self.options.ic_lora_scale])
        else:
            r2v.disable_lora()

    def _decode_audio(self, audio_latents: Any) -> tuple[np.ndarray, int]:
        """The pipelines' own audio decode (audio VAE, then vocoder), whole: a clip's audio is small."""
        t2v = self.pipelines["t2v"]
        mel = t2v.audio_vae.decode(audio_latents.to(t2v.audio_vae.dtype), return_dict=False)[0]
        audio = t2v.vocoder(mel)[0].detach().float().cpu().numpy()
        t2v.maybe_free_model_hooks()
        return audio, int(t2v.vocoder.config.output_sampling_rate)


class _ProgressCallbacks:
    """``callback_on_step_end`` for each denoising call: progress over all of a job's steps, and the cancel check.

    Raising here leaves the pipeline's loop at once, so nothing is decoded.
    """

    def __init__(self, ctx: EngineContext, stages: list[StageCall]) -> None:
        self.ctx = ctx
        self.total = max(sum(stage.steps for stage in stages), 1)
        self.steps_before: dict[StageCall, int] = {}
        done = 0
        for stage in stages:
            self.steps_before[stage] = done
            done += stage.steps

    def __call__(self, stage: StageCall) -> Any:
        before = self.steps_before[stage]

        def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
            if self.ctx.cancelled():
                raise JobCancelled()
            self.ctx.report_progress(DENOISE_SHARE * min(before + step + 1, self.total) / self.total)
            return {}

        return on_step_end


def _reporting(frames: Iterator[np.ndarray], ctx: EngineContext, total: int) -> Iterator[np.ndarray]:
    for index, frame in enumerate(frames, 1):
        yield frame
        ctx.report_progress(DECODED_AT + (1 - DECODED_AT) * index / total)
