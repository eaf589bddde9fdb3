"""The ``magihuman`` engine: daVinci-MagiHuman (SII-GAIR, Sand.ai; Apache-2.0) on our own model code.

One generation, in numbered steps:

1. check the spec (t2v or i2v; r2v is not what the model was trained for, and
   the engine says so in ``modes``, so its worker never claims r2v);
2. plan sizes and lengths (:mod:`~happyhorse.engines.magihuman.shapes`): the
   base stage at 256p, the SR stage at 540p for 720p outputs and at 1080p for
   1080p outputs — the two sizes the published SR DiTs were trained for.
   720p has no SR DiT of its own: by default the 540p SR DiT refines at its
   trained size and the frames are resized up to 720p (``sr_720p="540p"``);
   ``sr_720p="720p"`` runs it at 720p-sized latents instead, outside the size
   it was trained for;
3. encode the prompt (T5Gemma; the negative prompt too when guided) and, for
   i2v, the image (Wan 2.2 VAE, normalised), at base and SR size;
4. denoise at base size (distilled: 8 steps, no CFG; base: 32 UniPC steps with
   CFG), the image pinned in latent frame 0 at every step, as trained; then
   super-resolve the video (5 steps; audio is the base stage's);
5. decode the audio (Stable Audio Open's VAE) at once, and hand back the video
   as latents behind a lazy iterator: a latent frame is decoded when the
   encoder pulls its frames, retimed from 25 to 24 fps and fitted to the exact
   output size.

Progress is reported after every step of both stages; a cancel seen at a step
raises :class:`JobCancelled` there, before anything is decoded. The seed
feeds one CPU ``torch.Generator`` that draws every noise in the reference's
order, so the same seed gives the same clip. ``generate`` does the heavy
work before it returns (``pipelined = True``): frames of one job may be
pulled on the encoder's thread while the next job denoises; the decode
touches only the VAEs, which stay on the device and which nothing modifies
(the decoder's causal cache is the iterator's own).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from happyhorse.engines.base import Clip, EngineContext, GenerationSpec, JobCancelled, check_spec
from happyhorse.engines.ltx2.options import EngineUnavailable
from happyhorse.engines.ltx2.shapes import fit_frame, trim_audio
from happyhorse.engines.magihuman.options import MagiHumanOptions
from happyhorse.engines.magihuman.shapes import Plan, plan, retimed
from happyhorse.engines.magihuman.weights import AUDIO_VAE, DIT_FOLDERS, TEXT_ENCODER, VIDEO_VAE, check_weights

__all__ = ["MagiHumanEngine"]

log = logging.getLogger("happyhorse.engine.magihuman")

DENOISE_SHARE, DECODED_AT = 0.9, 0.93
MODES = ("t2v", "i2v")
DEFAULT_FRAME_RECEPTIVE_FIELD = 11
REQUIRED_MODULES = ("torch", "diffusers", "transformers", "safetensors")


class MagiHumanEngine:
    """daVinci-MagiHuman text/image-to-video with its own audio, from a local weights directory.

    Loads every model at once (the worker keeps the engine for its lifetime);
    raises :class:`EngineUnavailable` without the ``diffusion`` extra and
    ``ValueError`` for bad options or an incomplete directory, before any job.
    """

    name = "magihuman"
    description = ("daVinci-MagiHuman (SII-GAIR / Sand.ai, Apache-2.0) text/image-to-video with its own audio: "
                   "15B single-stream DiT, 256p base + latent super-resolution, on weights from a local directory")
    pipelined = True
    modes = MODES

    def __init__(self, weights: Path | str | None = None, **options: Any) -> None:
        self.options = opts = MagiHumanOptions.parse(weights, options)
        _require_packages()
        report = check_weights(opts.weights, profile=opts.profile)
        if not report.complete:
            raise ValueError(f"{report.summary()} (run `happyhorse weights check --engine magihuman {opts.weights}`)")
        import torch

        from happyhorse.engines.magihuman.checkpoint import load_dit
        from happyhorse.engines.magihuman.text import TextEncoder
        from happyhorse.engines.magihuman.vae import AudioVAE, VideoVAE

        root = opts.weights
        self.device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = getattr(torch, opts.dtype or ("bfloat16" if self.device.type == "cuda" else "float32"))
        home = torch.device("cpu") if opts.cpu_offload == "model" else self.device
        self.text = TextEncoder(root / TEXT_ENCODER[1], dtype=dtype, length=opts.text_length)
        self.text.model.to(home)
        self.video_vae = VideoVAE(root / VIDEO_VAE[1] / VIDEO_VAE[2], device=self.device)
        self.audio_vae = AudioVAE(root / AUDIO_VAE[1] / AUDIO_VAE[2], device=self.device)
        self.dits: dict[str, Any] = {}
        self.packing: dict[str, Any] = {}
        for key, sr_1080p in ((opts.profile, False), ("sr_540p", False), ("sr_1080p", True)):
            folder = root / DIT_FOLDERS[key]
            config, frf = _dit_config(folder, sr_1080p=sr_1080p)
            self.dits[key] = load_dit(folder, config=config, compute_dtype=dtype, device=home)
            self.dits[key].set_attention_backend(opts.attention_backend)
            self.packing[key] = _packing(frf, "v1" if key.startswith("sr_") else "v2")
        self._check_channels()
        log.info("magihuman: %s on %s (%s), profile %s, %d steps + %d SR steps, offload %s", root, self.device,
                 dtype, opts.profile, opts.num_steps, opts.sr_steps, opts.cpu_offload)

    @classmethod
    def from_components(cls, *, text: Any, video_vae: Any, audio_vae: Any, dits: dict[str, Any],
                        frame_receptive_field: int = DEFAULT_FRAME_RECEPTIVE_FIELD,
                        **options: Any) -> MagiHumanEngine:
        """An engine on components already in memory, on their device (the GPU check's random full-size
        models): ``text`` a ``TextEncoder``, ``video_vae`` / ``audio_vae`` a ``VideoVAE`` / ``AudioVAE`` (or
        objects with their interface), ``dits`` the DiTs by key: the profile's, ``sr_540p``, ``sr_1080p``.
        ``options`` as for the constructor; no weights directory is read."""
        import torch

        self = cls.__new__(cls)
        self.options = opts = MagiHumanOptions.parse("(components in memory)", options)
        missing = sorted({opts.profile, "sr_540p", "sr_1080p"} - set(dits))
        if missing:
            raise ValueError(f"from_components needs the DiTs {', '.join(missing)} too")
        self.device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.text, self.video_vae, self.audio_vae, self.dits = text, video_vae, audio_vae, dict(dits)
        backend = getattr(opts, "attention_backend", None)
        for dit in self.dits.values() if backend else ():
            dit.set_attention_backend(backend)
        self.packing = {key: _packing(frame_receptive_field, "v1" if key.startswith("sr_") else "v2")
                        for key in self.dits}
        self._check_channels()
        return self

    def _check_channels(self) -> None:
        for key, dit in self.dits.items():
            cfg = dit.config
            want = (self.video_vae.z_dim * 4, self.audio_vae.channels, self.text.channels)
            have = (cfg.video_in_channels, cfg.audio_in_channels, cfg.text_in_channels)
            if want != have:
                raise ValueError(f"{DIT_FOLDERS[key]}/ expects video/audio/text channels {have}, but the VAEs and "
                                 f"text encoder give {want}: the components do not belong together")

    # -- one job -----------------------------------------------------------------

    def plan(self, spec: GenerationSpec) -> Plan:
        """Sizes and lengths :meth:`generate` uses for ``spec``."""
        opts = self.options
        return plan(spec.width, spec.height, spec.num_frames, spec.fps, sr=True, scale=opts.scale,
                    sr_720p=opts.sr_720p)

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip:
        """Generate ``spec``: frames of its exact size and count, the model's audio of its exact length."""
        import torch

        from happyhorse.engines.magihuman.sampling import (
            base_guidance, denoise, dit_velocity, gaussian_noise, initial_latents)
        from happyhorse.engines.magihuman.sr import super_resolve

        # 1. Check inputs.
        check_spec(spec)
        if spec.mode not in self.modes:
            raise ValueError(f"the magihuman engine serves {', '.join(self.modes)}, not {spec.mode}")
        if ctx.cancelled():
            raise JobCancelled()
        opts = self.options

        # 2. Plan; one generator draws every noise, in the reference's order.
        job = self.plan(spec)
        noise = gaussian_noise(torch.Generator(device="cpu").manual_seed(spec.seed))
        progress = _StepProgress(ctx, opts.num_steps + (opts.sr_steps if job.sr_stage else 0))

        # 3. Encode the prompt(s) and the image.
        with self._placed(self.text.model):
            prompt = self.text.encode(spec.prompt, self.device)
            negative = (self.text.encode(opts.negative_prompt, self.device)
                        if opts.guided or opts.sr_guidance else None)
        image_base = image_sr = None
        if spec.mode == "i2v":
            image_base = self._image_latent(spec.images[0], job.base_size)
            if job.sr_size is not None:
                image_sr = self._image_latent(spec.images[0], job.sr_size)
        if ctx.cancelled():
            raise JobCancelled()

        # 4. Denoise at base size, then super-resolve.
        h, w = job.base_latent
        video, audio = initial_latents(noise, video_shape=(1, self.video_vae.z_dim, job.latent_frames, h, w),
                                       audio_frames=job.audio_frames, audio_channels=self.audio_vae.channels)
        video, audio = video.to(self.device), audio.to(self.device)
        dit = self.dits[opts.profile]
        with self._placed(dit):
            video, audio = denoise(
                dit_velocity(dit, self.packing[opts.profile]), video, audio, prompt=prompt,
                num_steps=opts.num_steps, sampler="unipc" if opts.guided else "ddim",
                guidance=base_guidance(negative) if opts.guided else None, image=image_base,
                noise=noise, callback=progress)
        if job.sr_stage is not None:
            key = f"sr_{job.sr_stage}"
            with self._placed(self.dits[key]):
                video = super_resolve(
                    dit_velocity(self.dits[key], self.packing[key]), video, audio, size=job.sr_latent,
                    prompt=prompt, noise=noise, negative=negative if opts.sr_guidance else None,
                    image=image_sr, num_steps=opts.sr_steps, callback=progress)

        # 5. Audio now (small); video lazily, as the encoder pulls it.
        waveform = self.audio_vae.decode(audio)
        ctx.report_progress(DECODED_AT)
        frames = self.video_vae.frames(video, chunk=opts.decode_chunk, cancelled=ctx.cancelled)
        fitted = (fit_frame(f, spec.width, spec.height) for f in retimed(frames, spec.num_frames, spec.fps))
        return Clip(
            frames=_reporting(fitted, ctx, spec.num_frames),
            fps=spec.fps,
            audio=trim_audio(waveform, self.audio_vae.sample_rate, spec.num_frames, spec.fps),
            sample_rate=self.audio_vae.sample_rate,
            num_frames=spec.num_frames,
        )

    def _image_latent(self, image: np.ndarray, size: tuple[int, int]) -> Any:
        """The i2v image cropped to the generation's aspect, resized to ``size`` (h, w), VAE-encoded."""
        height, width = size
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        return self.video_vae.encode_image(fit_frame(np.ascontiguousarray(rgb[..., :3]), width, height))

    @contextlib.contextmanager
    def _placed(self, module: Any) -> Iterator[None]:
        """``module`` on the device for the block; with ``cpu_offload="model"`` back on the CPU after."""
        if self.options.cpu_offload != "model":
            yield
            return
        import torch

        module.to(self.device)
        try:
            yield
        finally:
            module.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()


class _StepProgress:
    """The step callback of both stages: the cancel check, then progress over all of a job's steps."""

    def __init__(self, ctx: EngineContext, total: int) -> None:
        self.ctx, self.total, self.done = ctx, max(total, 1), 0

    def __call__(self, step: Any) -> None:
        if self.ctx.cancelled():
            raise JobCancelled()
        self.done += 1
        self.ctx.report_progress(DENOISE_SHARE * min(self.done, self.total) / self.total)


def _reporting(frames: Iterator[np.ndarray], ctx: EngineContext, total: int) -> Iterator[np.ndarray]:
    for index, frame in enumerate(frames, 1):
        yield frame
        ctx.report_progress(DECODED_AT + (1 - DECODED_AT) * index / total)


def _dit_config(folder: Path, *, sr_1080p: bool) -> tuple[Any, int]:
    """The DiT's architecture and frame receptive field: from ``config.json`` when the folder has one
    (``arch_config`` / ``data_proxy_config``), else the published model's (1080p SR: its local layers)."""
    from happyhorse.engines.magihuman.config import DiTConfig

    path = folder / "config.json"
    if not path.is_file():
        return DiTConfig.real(sr_1080p=sr_1080p), DEFAULT_FRAME_RECEPTIVE_FIELD
    data = json.loads(path.read_text())
    arch = data.get("arch_config", data)
    frf = data.get("data_proxy_config", {}).get("frame_receptive_field", DEFAULT_FRAME_RECEPTIVE_FIELD)
    return DiTConfig.from_dict(arch), int(frf)


def _packing(frame_receptive_field: int, coords_style: str) -> Any:
    from happyhorse.engines.magihuman.packing import PackingConfig

    return PackingConfig(frame_receptive_field=frame_receptive_field, coords_style=coords_style)


def _require_packages() -> None:
    missing = []
    for module in REQUIRED_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise EngineUnavailable(f"the magihuman engine needs the 'diffusion' extra, and {', '.join(missing)} "
                                f"{'is' if len(missing) == 1 else 'are'} not installed: "
                                "pip install 'happyhorse[diffusion]'")
