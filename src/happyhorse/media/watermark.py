"""The visible "Happy Horse" watermark, drawn bottom-right on every frame.

The overlay is rendered once per frame size (Pillow, cached) and then
alpha-blended with numpy over its small bounding box only, so watermarking
costs tens of microseconds per frame whatever the frame size.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

TEXT = "Happy Horse"
MARGIN_FRACTION = 0.025
"""Gap between the text and the frame's right and bottom edges, as a fraction of the short side."""
HEIGHT_FRACTION = 0.04
"""Height of the text's ink, as a fraction of the short side."""
OPACITY = 0.85
_MIN_TEXT_HEIGHT = 8  # below this the text is unreadable; only tiny test frames get here
_SHADOW_ALPHA = 0.7


class Watermark:
    """The overlay for one frame size: ``apply`` blends it into frames of that size."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.box, self._premultiplied, self._alpha = _render(width, height)

    def apply(self, frame: np.ndarray) -> None:
        """Blend the watermark into ``frame`` (uint8 ``[H, W, 3]`` RGB) in place."""
        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"watermark made for {self.width}x{self.height}, frame is "
                f"{frame.shape[1]}x{frame.shape[0]}"
            )
        x0, y0, x1, y1 = self.box
        region = frame[y0:y1, x0:x1]
        blended = region * (1.0 - self._alpha) + self._premultiplied
        region[...] = (blended + 0.5).astype(np.uint8)


def watermark_box(width: int, height: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` (end-exclusive) of the only pixels the watermark changes
    in a ``width`` x ``height`` frame; it lies in the frame's bottom-right corner."""
    return _render(width, height)[0]


@functools.lru_cache(maxsize=16)
def _render(width: int, height: int) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """The box, premultiplied RGB (float32 ``[h, w, 3]``) and alpha (``[h, w, 1]``)."""
    short = min(width, height)
    text_height = max(_MIN_TEXT_HEIGHT, round(short * HEIGHT_FRACTION))
    margin = round(short * MARGIN_FRACTION)
    font = _font_for_height(text_height)
    left, top, right, bottom = font.getbbox(TEXT)
    ink_w, ink_h = right - left, bottom - top
    # Room around the ink for the soft shadow to fade out in.
    pad = max(2, round(text_height * 0.2))
    size = (ink_w + 2 * pad, ink_h + 2 * pad)

    text = Image.new("L", size, 0)
    ImageDraw.Draw(text).text((pad - left, pad - top), TEXT, font=font, fill=255)
    shadow = Image.new("L", size, 0)
    stroke = max(1, round(text_height / 14))
    ImageDraw.Draw(shadow).text(
        (pad - left + stroke, pad - top + stroke), TEXT, font=font, fill=255,
        stroke_width=stroke, stroke_fill=255,
    )
    shadow = shadow.filter(ImageFilter.GaussianBlur(radius=max(1.0, text_height / 12)))

    a_text = np.asarray(text, dtype=np.float32)[..., None] / 255.0
    a_shadow = np.asarray(shadow, dtype=np.float32)[..., None] / 255.0 * _SHADOW_ALPHA
    # White text over a black shadow: only the text adds colour once premultiplied.
    alpha = (a_text + a_shadow * (1.0 - a_text)) * OPACITY
    premultiplied = np.repeat(a_text * OPACITY * 255.0, 3, axis=2)

    x1, y1 = width - margin + pad, height - margin + pad
    x0, y0 = x1 - size[0], y1 - size[1]
    # Frames smaller than the overlay (tiny test sizes) get the overlay's bottom-right part.
    cut_x, cut_y = max(0, -x0), max(0, -y0)
    x0, y0 = x0 + cut_x, y0 + cut_y
    x1, y1 = min(x1, width), min(y1, height)
    crop = (slice(cut_y, cut_y + y1 - y0), slice(cut_x, cut_x + x1 - x0))
    return (x0, y0, x1, y1), premultiplied[crop], alpha[crop]


def _font_for_height(text_height: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font (FreeType, Pillow >= 10.1) sized so ``TEXT``'s ink is
    about ``text_height`` pixels tall; no font file ships with the package."""
    font = ImageFont.load_default(size=text_height)
    _, top, _, bottom = font.getbbox(TEXT)
    if bottom > top and isinstance(font, ImageFont.FreeTypeFont):
        scaled = round(text_height * text_height / (bottom - top))
        font = ImageFont.load_default(size=max(1, scaled))
    return font
