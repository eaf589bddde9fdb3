"""Image rules of SPEC §3: check untrusted image bytes, then decode them to RGB pixels.

Rules, in the order they are checked (cheapest first, nothing decoded until
the header has passed)::

    size       at most 10 MB                     413 image_too_large
    format     JPEG, PNG, WEBP or BMP (by bytes) 400 image_format_unsupported
    pixels     at most 40 megapixels             400 image_too_many_pixels
    sides      each at least 300 px              400 image_too_small
    aspect     between 1:2.5 and 2.5:1           400 image_aspect_ratio_out_of_range
    pixels ok  the whole image decodes           400 image_unreadable

The declared content type of an upload or a fetched URL is never trusted: the
format is whatever Pillow recognises in the bytes, and only the four formats
above are ever handed to a Pillow decoder.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from happyhorse.errors import InvalidRequest, PayloadTooLarge
from happyhorse.inputs.decode_budget import PixelBudget

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
MIN_IMAGE_SIDE = 300
# Two images at the cap may be decoded at once in a process; more wait their turn.
DECODE_BUDGET = PixelBudget(2 * MAX_IMAGE_PIXELS)
# The aspect-ratio limit 2.5:1 as the integer pair 5:2, so the check stays exact.
_ASPECT_NUM, _ASPECT_DEN = 5, 2

# Pillow format name -> (our name, content type). MPO is a multi-picture JPEG
# (many phone cameras write it); Pillow opens it with the JPEG plugin.
_ALLOWED: dict[str, tuple[str, str]] = {
    "JPEG": ("jpeg", "image/jpeg"),
    "MPO": ("jpeg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "BMP": ("bmp", "image/bmp"),
}
_PILLOW_PLUGINS = ["JPEG", "PNG", "WEBP", "BMP"]
_ALLOWED_TEXT = "JPEG, PNG, WEBP or BMP"

# Signatures, used only to word errors: an allowed signature that Pillow
# cannot open means damaged data, any other one names the unsupported format.
_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "allowed"),
    (b"\xff\xd8\xff", 0, "allowed"),
    (b"WEBP", 8, "allowed"),
    (b"BM", 0, "allowed"),
    (b"GIF8", 0, "GIF"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
    (b"%PDF", 0, "PDF"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
]

# Orientations 5-8 turn the image by 90 degrees: width and height swap.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`inspect_image` learned about an image that passed every rule.

    ``width`` and ``height`` are as displayed, i.e. after the EXIF orientation
    is applied (the size :func:`decode_image` returns); ``bytes`` is the size of
    the encoded data.
    """

    format: str  # "jpeg" | "png" | "webp" | "bmp"
    content_type: str
    width: int
    height: int
    bytes: int


def inspect_image(data: bytes, *, param: str, max_bytes: int = MAX_IMAGE_BYTES) -> ImageInfo:
    """Check ``data`` against every image rule of SPEC §3 and describe it.

    Raises :class:`PayloadTooLarge` (``image_too_large``) or
    :class:`InvalidRequest` with one of the codes in the module docstring, each
    naming ``param``. The image is decoded once, so damaged data is caught
    here rather than later in a worker; the decoded pixels are dropped.
    """
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            "image_too_large",
            f"{param} is {_megabytes(len(data))}; images must be at most {_megabytes(max_bytes)}",
            param,
        )
    with _open_checked(data, param) as img:
        fmt, content_type = _ALLOWED[img.format or ""]
        width, height = img.size  # before draft(), which shrinks img.size
        if img.format in ("JPEG", "MPO"):
            # Decoding at 1/8 scale still reads the whole bitstream (so damage
            # shows) at 1/64 of the memory.
            img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
        with _decoding(img):
            # Decoded before the EXIF lookup: PNG's getexif() loads the pixels itself,
            # and a decoder error swallowed there would leave a damaged image "loaded".
            _load(img, param)
            width, height = _displayed_size(img, (width, height))
    return ImageInfo(format=fmt, content_type=content_type, width=width, height=height, bytes=len(data))


def decode_image(data: bytes, *, param: str = "image") -> np.ndarray:
    """Decode ``data`` to a ``uint8`` array of shape ``[height, width, 3]`` in RGB.

    The EXIF orientation is applied; palette, grayscale, 16-bit and CMYK images
    become RGB, and transparent pixels are composited onto white. The header
    checks of :func:`inspect_image` run again here (format and pixel cap), so a
    caller that skipped it can still not decode a bomb.
    """
    with _open_checked(data, param) as img, _decoding(img):
        _load(img, param)
        ImageOps.exif_transpose(img, in_place=True)
        return _to_rgb_array(img)


def _open_checked(data: bytes, param: str) -> Image.Image:
    """Open ``data`` lazily (header only) with the allowed plugins and check its
    format, pixel count, side lengths and aspect ratio."""
    try:
        # Pillow warns above ~89 MP and raises above ~179 MP while reading the
        # header; both mean "too many pixels" to us. catch_warnings is
        # process-global before Python 3.14, which is harmless here: the only
        # filter it adds turns this one warning into an error.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=_PILLOW_PLUGINS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(param, None, exc) from None
    except UnidentifiedImageError:
        raise _unidentified(data, param) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _unreadable(param, exc) from None
    if img.format not in _ALLOWED:  # a plugin subclass we did not ask for
        img.close()
        raise _unsupported(param, img.format or "unknown")
    try:
        _check_dimensions(*img.size, param=param)
    except InvalidRequest:
        img.close()
        raise
    return img


def _check_dimensions(width: int, height: int, *, param: str) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_many_pixels(param, (width, height))
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InvalidRequest(
            "image_too_small",
            f"{param} is {width}x{height} px; each side must be at least {MIN_IMAGE_SIDE} px",
            param,
        )
    if _ASPECT_DEN * max(width, height) > _ASPECT_NUM * min(width, height):
        raise InvalidRequest(
            "image_aspect_ratio_out_of_range",
            f"{param} is {width}x{height} px (aspect ratio {width / height:.2f}); "
            "the aspect ratio must be between 1:2.5 and 2.5:1 - crop it",
            param,
        )


@contextmanager
def _decoding(img: Image.Image) -> Iterator[None]:
    """Hold ``img``'s pixels in the decode budget for as long as they live: the
    image is closed (its pixels freed) before the reservation ends, so the budget
    counts every copy made meanwhile and trims the heap only once they are gone."""
    width, height = img.size  # after any draft(): what will really be decoded
    with DECODE_BUDGET.reserve(width * height):
        try:
            yield
        finally:
            img.close()


def _load(img: Image.Image, param: str) -> None:
    """Decode the pixels, turning every decoder failure into ``image_unreadable``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(param, None, exc) from None
    except Exception as exc:  # decoders raise many types on hostile data; all mean "damaged"
        raise _unreadable(param, exc) from None


def _displayed_size(img: Image.Image, size: tuple[int, int]) -> tuple[int, int]:
    """``size`` (the stored width and height) as displayed, after ``img``'s EXIF orientation."""
    width, height = size
    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a broken EXIF block must not reject an otherwise good image
        orientation = None
    if orientation in _SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale (PNG is the only allowed format that has it):
        # Pillow's convert("L") clips to 255 instead of scaling, so scale here.
        wide = np.asarray(img).astype(np.uint32)
        gray = (np.minimum(wide, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa") or (mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def _unidentified(data: bytes, param: str) -> InvalidRequest:
    for signature, offset, name in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if name == "allowed":
                return _unreadable(param, None)
            return _unsupported(param, name)
    return InvalidRequest(
        "image_format_unsupported",
        f"{param} is not an image in a supported format; send {_ALLOWED_TEXT}",
        param,
    )


def _unsupported(param: str, name: str) -> InvalidRequest:
    return InvalidRequest(
        "image_format_unsupported",
        f"{param} is {name}; convert it to {_ALLOWED_TEXT}",
        param,
    )


def _unreadable(param: str, exc: BaseException | None) -> InvalidRequest:
    detail = f" ({exc})" if exc is not None and str(exc) else ""
    return InvalidRequest(
        "image_unreadable",
        f"{param} could not be decoded{detail}; the file is damaged or truncated - re-export it",
        param,
    )


def _too_many_pixels(param: str, size: tuple[int, int] | None, bomb: Exception | None = None) -> InvalidRequest:
    limit = f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels"
    if size is None:
        # Pillow's bomb message carries the pixel count: "Image size (N pixels) exceeds ..."
        found = re.search(r"\((\d+) pixels\)", str(bomb))
        count = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else f"more than {limit}"
        message = f"{param} has {count}; downscale it to at most {limit}"
    else:
        w, h = size
        message = f"{param} is {w}x{h} px ({w * h / 1e6:.1f} megapixels); downscale it to at most {limit}"
    return InvalidRequest("image_too_many_pixels", message, param)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"
