"""The ``preview`` engine: a procedural renderer, with no neural network and no weights.

It exists so the whole service runs and can be tested anywhere, on a CPU, in
seconds. It does not understand the prompt the way a video model would; it
reads the prompt's words as a recipe (colour words give colours, some words
pick shapes and tempo, the rest hash to hues and shapes) and draws:

- t2v: glowing shapes moving over a gradient backdrop, in shots cut on beats;
- i2v: the source image as frame 0, then a slow camera (push in, pan, pull back)
  over it, with a light pulse where each move starts;
- r2v: the references as cards: the ones named ``characterN`` large in the
  middle, the others in a strip along the bottom.

Its soundtrack puts a hit at the exact time of each cut, flash and beat, so
A/V sync can be measured on its output. Same spec, byte-identical output.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from happyhorse.engines.base import (
    SAMPLE_RATE,
    Clip,
    EngineContext,
    GenerationSpec,
    JobCancelled,
    check_spec,
)
from happyhorse.engines.preview.audio import render_soundtrack
from happyhorse.engines.preview.motion import ImageRenderer
from happyhorse.engines.preview.plan import PreviewPlan, plan_clip
from happyhorse.engines.preview.refs import ReferenceRenderer
from happyhorse.engines.preview.scene import SceneRenderer

__all__ = ["PreviewEngine"]


class PreviewEngine:
    """Procedural preview renderer; see the module docstring for what it draws and why.

    ``generate`` returns at once with the audio computed and the frames as a
    lazy iterator: frames are drawn one at a time as the caller consumes them,
    so a long 1080p clip never sits in memory whole.
    """

    name = "preview"
    description = "Procedural preview renderer (CPU, no neural network) for trying the API and testing"

    def plan(self, spec: GenerationSpec) -> PreviewPlan:
        """The plan ``generate`` follows for ``spec``: shots and the frames of every visual event.

        Lets a test or a benchmark know where the cuts and flashes are without
        decoding the video (the soundtrack has a hit at each ``event.frame / fps``).
        """
        _check_spec(spec)
        return plan_clip(spec)

    def generate(self, spec: GenerationSpec, ctx: EngineContext) -> Clip:
        """Render ``spec``: frames of exactly its size and count, 48 kHz stereo audio of its length.

        The frame iterator reports progress after each frame and raises
        :class:`JobCancelled` as soon as ``ctx.cancelled()`` is true.
        Raises ``ValueError`` for a spec no engine could honour (bad size, wrong image count).
        """
        # 1. Check inputs (before any work, so a bad spec fails the job at once).
        _check_spec(spec)
        if ctx.cancelled():
            raise JobCancelled()
        images = [_to_pil(image) for image in spec.images]

        # 2. Plan the clip: palette, shots on beats, and the frame of every visual event.
        plan = plan_clip(spec)
        ctx.log.debug("preview plan: %d shots, events at %s", len(plan.shots), plan.big_events)

        # 3. Build the soundtrack up front (it is small), hits on the planned events.
        audio = render_soundtrack(plan, spec.num_frames, spec.fps)

        # 4. Prepare the mode's renderer; frames are drawn only as they are consumed.
        renderer: SceneRenderer | ImageRenderer | ReferenceRenderer
        if spec.mode == "t2v":
            renderer = SceneRenderer(plan, spec.width, spec.height, spec.fps, spec.num_frames)
        elif spec.mode == "i2v":
            renderer = ImageRenderer(plan, images[0], spec.width, spec.height, spec.num_frames)
        else:
            renderer = ReferenceRenderer(plan, images, spec.width, spec.height, spec.fps, spec.num_frames)

        # 5. Stream the frames.
        frames = _stream_frames(renderer, spec.num_frames, ctx)
        return Clip(frames=frames, fps=spec.fps, audio=audio, sample_rate=SAMPLE_RATE, num_frames=spec.num_frames)


def _stream_frames(
    renderer: SceneRenderer | ImageRenderer | ReferenceRenderer, num_frames: int, ctx: EngineContext
) -> Iterator[np.ndarray]:
    """Yield each frame as a fresh, writable, C-contiguous uint8 ``[H, W, 3]`` array."""
    for index in range(num_frames):
        if ctx.cancelled():
            raise JobCancelled()
        frame = np.array(renderer.render(index), dtype=np.uint8)
        ctx.report_progress((index + 1) / num_frames)
        yield frame


def _check_spec(spec: GenerationSpec) -> None:
    """Raise ``ValueError`` naming what is wrong with ``spec``: the rules every engine
    checks, and the preview renderer's smallest frame."""
    check_spec(spec)
    if spec.width < 8 or spec.height < 8:
        raise ValueError(f"frame size must be at least 8x8, got {spec.width}x{spec.height}")


def _to_pil(image: np.ndarray) -> Image.Image:
    """An input image as an RGB PIL image (grey or RGBA arrays are converted, not rejected)."""
    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    image = Image.fromarray(array)
    return image if image.mode == "RGB" else image.convert("RGB")
