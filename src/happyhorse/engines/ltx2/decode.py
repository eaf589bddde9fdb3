"""Video latents to uint8 frames, a chunk of latent frames at a time, as the encoder pulls them.

A pipeline's own decode turns the whole clip into one float32 array (1080p,
15 s: about 9 GB of host memory). Here the engine asks the pipeline for
latents and decodes them in temporal chunks with the pipeline's own VAE and
post-processing, so what is held at once grows with the chunk, never with
the clip: one window's decoded frames on the device, and the chunk's uint8
frames on the host until the encoder has taken them.

How a window maps onto frames. The VAE compresses time 8x with a causal first
frame: latent frame 0 decodes to video frame 0, latent frame ``k >= 1`` to
frames ``8k - 7 .. 8k``. Decoding latent frames ``[a, b)`` on their own
treats frame ``a`` as a first frame, so it yields frames ``8a .. 8(b - 1)``:
the seven frames before ``8a`` belong to latent ``a`` but need latent ``a - 1``
before it. A chunk owning latents ``[s, e)`` (frames ``8s - 7 .. 8(e - 1)``)
is therefore decoded from at least latent ``s - 1``, plus ``context`` latent
frames on each side, and only its own frames are kept.

Why context and no blending: the decoder is convolutional with per-position
norms only, so a frame depends on the latents within the decoder's temporal
receptive field and on nothing else. A frame that sees all of them in its
window is the one-shot decode's frame; a frame nearer a window's edge than
that sees repeated edge frames instead (the decoder's temporal padding).
Blending overlapping windows (diffusers' framewise decode, Lightricks' tiling)
mixes two such edge-affected frames; keeping only frames ``context`` latents
away from every edge makes the chunked decode equal the one-shot decode once
``context`` covers the receptive field (7 latent frames for the tests' tiny
VAE, measured) and brings it closer as ``context`` grows. LTX-2's decoder
reaches about 22 latent frames in theory (from its layer counts); how far a
trained one's frames really depend is not measured here. The default 2 costs
about 1.6x the one-shot decode's work on long clips (a 22-frame context would
cost 6x).

Decode-time noise: with ``timestep_conditioning`` in the VAE config the
pipelines decode at their ``decode_timestep`` (default 0.0) after mixing in
noise of the same scale, which at 0 leaves the latents as they are; the engine
never changes that default, so the decoder gets the timestep and no noise.
Latents arrive denormalized (``output_type="latent"`` does that), as
``vae.decode`` wants them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from happyhorse.engines.base import EngineContext, JobCancelled

DECODE_TIMESTEP = 0.0


@dataclass(frozen=True)
class DecodeWindow:
    """One decode call: latent frames ``[start, stop)``, of whose output frames ``[keep_from, keep_to)`` are kept."""

    start: int
    stop: int
    keep_from: int
    keep_to: int


def decode_windows(num_latent_frames: int, chunk: int, context: int, ratio: int = 8) -> list[DecodeWindow]:
    """The windows that decode ``num_latent_frames`` in chunks of ``chunk`` latent frames, each seeing
    ``context`` more on each side; their kept frames, in order, are the clip's ``ratio * (n - 1) + 1`` frames."""
    windows = []
    for first in range(0, num_latent_frames, chunk):
        last = min(first + chunk, num_latent_frames)
        start = max(0, first - 1 - context)  # latent first - 1 at least: the frames just before 8 * first
        stop = min(num_latent_frames, last + context)
        keep_from = max(0, ratio * first - ratio + 1) - ratio * start
        keep_to = ratio * (last - 1) + 1 - ratio * start
        windows.append(DecodeWindow(start, stop, keep_from, keep_to))
    return windows


class ChunkedVideoDecoder:
    """Decodes a job's video latents lazily, one chunk per step of the returned iterator.

    ``device_lock`` is held around each chunk's decode (never while a frame is
    handed out), so a caller that holds it around its own use of the device
    never overlaps with a decode. ``after_chunk`` runs inside the lock after
    each chunk (the engine passes the pipeline's ``maybe_free_model_hooks`` when
    modules are offloaded, so the next user finds them where it expects).
    """

    def __init__(self, vae: Any, video_processor: Any, *, chunk: int, context: int,
                 device_lock: contextlib.AbstractContextManager | None = None,
                 after_chunk: Callable[[], None] | None = None) -> None:
        self.vae, self.video_processor = vae, video_processor
        self.chunk, self.context = chunk, context
        self.device_lock = device_lock or contextlib.nullcontext()
        self.after_chunk = after_chunk

    def frames(self, latents: Any, ctx: EngineContext) -> Iterator[np.ndarray]:
        """uint8 ``[H, W, 3]`` frames of ``latents`` (``[1, C, F, H, W]``, denormalized), in order.

        Checks ``ctx.cancelled()`` before each chunk and raises :class:`JobCancelled`.
        """
        ratio = self.vae.temporal_compression_ratio
        for window in decode_windows(latents.shape[2], self.chunk, self.context, ratio):
            if ctx.cancelled():
                raise JobCancelled()
            chunk = self._decode(latents, window)
            yield from chunk
            del chunk  # the chunk's frames are the encoder's now; nothing here keeps them

    def _decode(self, latents: Any, window: DecodeWindow) -> np.ndarray:
        import torch

        with self.device_lock, torch.inference_mode():
            window_latents = latents[:, :, window.start:window.stop].to(self.vae.dtype)
            timestep = None
            if self.vae.config.timestep_conditioning:
                timestep = torch.full((latents.shape[0],), DECODE_TIMESTEP, device=latents.device,
                                      dtype=window_latents.dtype)
            video = self.vae.decode(window_latents, timestep, return_dict=False)[0]
            video = video[:, :, window.keep_from:window.keep_to]
            # The pipelines' own post-processing ([-1, 1] -> [0, 1]), then uint8 as fit_frame rounds
            # it, on the device: only the uint8 frames cross to the host.
            frames = self.video_processor.postprocess_video(video, output_type="pt")[0]  # [T, C, H, W]
            frames = (frames.float() * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            if self.after_chunk is not None:
                self.after_chunk()
        return frames
