"""SPEC §3 image rules: inspect_image and decode_image."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from happyhorse.errors import InvalidRequest, PayloadTooLarge
from happyhorse.inputs import ImageInfo, decode_image, inspect_image


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of any size, built row by row so that even
    20000x20000 costs a few kB of memory (a Pillow-made one would need 400 MB)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    squeeze = zlib.compressobj(9)
    idat = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def rgb(width: int = 400, height: int = 300, color=(200, 30, 40)) -> Image.Image:
    return Image.new("RGB", (width, height), color)


# --- formats ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pillow_format", "name", "content_type"),
    [
        ("JPEG", "jpeg", "image/jpeg"),
        ("PNG", "png", "image/png"),
        ("WEBP", "webp", "image/webp"),
        ("BMP", "bmp", "image/bmp"),
    ],
)
def test_each_allowed_format_is_accepted(pillow_format, name, content_type):
    data = encode(rgb(), pillow_format)
    info = inspect_image(data, param="image")
    assert info == ImageInfo(format=name, content_type=content_type, width=400, height=300, bytes=len(data))
    pixels = decode_image(data)
    assert pixels.shape == (300, 400, 3) and pixels.dtype == np.uint8


@pytest.mark.parametrize(("pillow_format", "named"), [("GIF", "GIF"), ("TIFF", "TIFF"), ("ICO", "ICO")])
def test_other_formats_are_refused_by_name(pillow_format, named):
    data = encode(rgb(), pillow_format)
    with pytest.raises(InvalidRequest) as caught:
        inspect_image(data, param="image[2]")
    err = caught.value
    assert (err.code, err.param, err.status) == ("image_format_unsupported", "image[2]", 400)
    assert named in err.message and "JPEG, PNG, WEBP or BMP" in err.message


def test_format_comes_from_the_bytes_not_a_name():
    with pytest.raises(InvalidRequest) as caught:
        inspect_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>", param="image")
    assert caught.value.code == "image_format_unsupported"


# --- size, sides, aspect, pixels ---------------------------------------------


def test_over_the_byte_cap_is_413():
    data = encode(rgb(), "PNG")
    with pytest.raises(PayloadTooLarge) as caught:
        inspect_image(data, param="image", max_bytes=len(data) - 1)
    assert (caught.value.code, caught.value.status, caught.value.param) == ("image_too_large", 413, "image")


def test_default_byte_cap_is_10_mb():
    with pytest.raises(PayloadTooLarge):
        inspect_image(b"\x00" * (10 * 1024 * 1024 + 1), param="image")


@pytest.mark.parametrize(("size", "ok"), [((300, 300), True), ((299, 600), False), ((600, 299), False)])
def test_each_side_at_least_300(size, ok):
    data = encode(rgb(*size), "PNG")
    if ok:
        assert inspect_image(data, param="image").width == size[0]
        return
    with pytest.raises(InvalidRequest) as caught:
        inspect_image(data, param="image[1]")
    assert caught.value.code == "image_too_small"
    assert caught.value.message == f"image[1] is {size[0]}x{size[1]} px; each side must be at least 300 px"


@pytest.mark.parametrize(
    ("size", "ok"), [((750, 300), True), ((300, 750), True), ((751, 300), False), ((300, 751), False)]
)
def test_aspect_ratio_between_1_to_2_5_and_2_5_to_1(size, ok):
    data = encode(rgb(*size), "PNG")
    if ok:
        inspect_image(data, param="image")
        return
    with pytest.raises(InvalidRequest) as caught:
        inspect_image(data, param="image")
    assert caught.value.code == "image_aspect_ratio_out_of_range"
    assert "between 1:2.5 and 2.5:1" in caught.value.message


def test_over_40_megapixels_refused_from_the_header():
    data = png_header_only(8000, 5001)  # 40.008 MP; below Pillow's own limit
    with pytest.raises(InvalidRequest) as caught:
        inspect_image(data, param="image")
    assert caught.value.code == "image_too_many_pixels"
    assert "8000x5001" in caught.value.message and "40 megapixels" in caught.value.message


@pytest.mark.parametrize("side", [10_000, 20_000])  # Pillow's warning range, then its error range
def test_decompression_bombs_become_too_many_pixels(side):
    data = png_header_only(side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        for call in (lambda: inspect_image(data, param="image"), lambda: decode_image(data)):
            with pytest.raises(InvalidRequest) as caught:
                call()
            assert caught.value.code == "image_too_many_pixels"


def test_20000px_png_costs_under_100_mb():
    # A fresh interpreter, so the peak RSS measured is this check's alone.
    script = textwrap.dedent(
        f"""
        import resource, tracemalloc
        from happyhorse.errors import InvalidRequest
        from happyhorse.inputs import inspect_image, decode_image
        data = {png_header_only(20_000, 20_000)!r}
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        for call in (inspect_image, lambda d, param: decode_image(d, param=param)):
            try:
                call(data, param="image")
            except InvalidRequest as exc:
                assert exc.code == "image_too_many_pixels", exc.code
            else:
                raise SystemExit("accepted")
        python_peak = tracemalloc.get_traced_memory()[1]
        growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(python_peak, growth_kb)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    python_peak, growth_kb = (int(x) for x in done.stdout.split())
    assert python_peak < 100 * 1024 * 1024
    assert growth_kb < 100 * 1024


# --- damaged data -------------------------------------------------------------


@pytest.mark.parametrize("pillow_format", ["PNG", "JPEG", "WEBP", "BMP"])
def test_truncated_data_is_unreadable(pillow_format):
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (400, 400, 3), dtype=np.uint8))
    data = encode(noisy, pillow_format)
    with pytest.raises(InvalidRequest) as caught:
        inspect_image(data[: len(data) // 2], param="image")
    assert caught.value.code == "image_unreadable"
    assert caught.value.param == "image"


def test_damaged_header_of_an_allowed_format_is_unreadable():
    data = bytearray(encode(rgb(), "PNG"))
    data[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    with pytest.raises(InvalidRequest) as caught:
        inspect_image(bytes(data), param="image")
    assert caught.value.code == "image_unreadable"


def test_empty_and_garbage_bytes_are_refused():
    for data in (b"", b"\x00" * 64, b"hello world"):
        with pytest.raises(InvalidRequest) as caught:
            inspect_image(data, param="image")
        assert caught.value.code == "image_format_unsupported"


# --- decoding -------------------------------------------------------------------


def test_exif_orientation_is_applied():
    stored = Image.new("RGB", (400, 320), (255, 0, 0))
    stored.paste((0, 0, 255), (200, 0, 400, 320))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    data = encode(stored, "JPEG", exif=exif.tobytes(), quality=95)
    info = inspect_image(data, param="image")
    assert (info.width, info.height) == (320, 400)
    pixels = decode_image(data)
    assert pixels.shape == (400, 320, 3)
    top, bottom = pixels[50, 160], pixels[350, 160]  # the stored left half is now on top
    assert top[0] > 200 and top[2] < 50
    assert bottom[2] > 200 and bottom[0] < 50


def _transparent_png(mode: str) -> bytes:
    base = Image.new("RGBA", (320, 320), (0, 0, 0, 0))
    base.paste((10, 20, 30, 255), (0, 0, 160, 320))  # opaque dark left half
    if mode == "RGBA":
        return encode(base, "PNG")
    if mode == "LA":
        return encode(base.convert("LA"), "PNG")
    return encode(base.convert("P"), "PNG")  # palette with a transparent index


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_composited_on_white(mode):
    pixels = decode_image(_transparent_png(mode))
    assert pixels.shape == (320, 320, 3)
    assert pixels[10, 300].tolist() == [255, 255, 255]
    assert max(pixels[10, 10].tolist()) < 40


@pytest.mark.parametrize(
    ("img", "fmt", "expected"),
    [
        (Image.new("L", (320, 320), 77), "PNG", [77, 77, 77]),
        (Image.new("1", (320, 320), 1), "PNG", [255, 255, 255]),
        (Image.new("P", (320, 320), 0), "GIF-palette-as-PNG", None),
        (Image.new("I;16", (320, 320), 0x8000), "PNG", [128, 128, 128]),
        (Image.new("CMYK", (320, 320), (0, 0, 0, 0)), "JPEG", [255, 255, 255]),
    ],
    ids=["grayscale", "bilevel", "palette", "16-bit", "cmyk"],
)
def test_other_modes_become_rgb(img, fmt, expected):
    if fmt == "GIF-palette-as-PNG":
        img.putpalette([12, 34, 56] * 256)
        fmt, expected = "PNG", [12, 34, 56]
    pixels = decode_image(encode(img, fmt))
    assert pixels.shape == (320, 320, 3) and pixels.dtype == np.uint8
    assert np.abs(pixels[5, 5].astype(int) - expected).max() <= 2


def test_decode_checks_the_header_too():
    with pytest.raises(InvalidRequest) as caught:
        decode_image(encode(rgb(), "GIF"), param="image[3]")
    assert (caught.value.code, caught.value.param) == ("image_format_unsupported", "image[3]")
