"""Issue 6 over the real HTTP API: decompression bombs and malformed images of
each accepted format (JPEG, PNG, WEBP, BMP) are refused with a 400 naming the
field, by every way an image enters, and leave nothing behind (no job, no hold,
no upload, no stored file); the whole hostile set costs under 100 MB of memory.

The function-level checks are in ``tests/inputs/test_images.py``; this module
sends the bytes to a server on a loopback port. Every bomb here is a small
file whose header declares more than the 40 MP cap, and the cases are checked
first to really read that big (``test_bombs_really_declare_their_size``):

* three sizes per format: 8000x6000 (48 MP: past our cap only), 10000x10000
  (Pillow's warning range) and 20000x20000 (Pillow's error range; WEBP's
  largest, 16383x16383, for WEBP);
* PNG: a complete, valid 1-bit image (every row present, deflated ~1000:1);
* BMP: a complete, valid RLE8 image whose pixel data is one "end of bitmap";
* JPEG and WEBP (VP8): a small real image with the frame size in its header
  patched.

Run as a script (``python test_hostile_images.py``) it is the memory check's
fresh interpreter: it starts its own server, warms it up with valid images,
sends every hostile case by every route and prints its peak-RSS figures.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "BMP": "image/bmp"}
MAGIC = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n", "WEBP": b"RIFF\x00\x00\x00\x00WEBP", "BMP": b"BM"}
PIXEL_CAP = 40_000_000
MEMORY_CAP_KB = 100 * 1024


# --- the hostile images -------------------------------------------------------------


def _encode(img: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


@functools.cache
def valid_image(fmt: str) -> bytes:
    """A valid 400x320 image of noise (so there is real data to damage)."""
    noise = np.random.default_rng(1).integers(0, 255, (320, 400, 3), dtype=np.uint8)
    return _encode(Image.fromarray(noise), fmt)


def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid 1-bit grayscale PNG, built row by row in a few kB of memory."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    squeeze = zlib.compressobj(9)
    idat = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def bmp_bomb(width: int, height: int) -> bytes:
    """A complete, valid RLE8 BMP: a 256-colour palette and pixel data that is
    just "end of bitmap" (the rest is background), 1 kB for any size."""
    palette = b"\x00\x00\x00\x00" * 256
    pixels = b"\x00\x01"
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def jpeg_bomb(width: int, height: int) -> bytes:
    """A small baseline JPEG whose SOF0 header says ``width`` x ``height``."""
    data = bytearray(_encode(Image.new("RGB", (400, 400), (10, 120, 200)), "JPEG"))
    i = 2
    while data[i + 1] not in (0xC0, 0xC2):  # walk the marker segments to the frame header
        assert data[i] == 0xFF
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    struct.pack_into(">HH", data, i + 5, height, width)  # FF C0, length(2), precision(1), height, width
    return bytes(data)


def webp_bomb(width: int, height: int) -> bytes:
    """A small lossy WEBP whose VP8 frame header says ``width`` x ``height`` (14 bits each)."""
    data = bytearray(_encode(Image.new("RGB", (400, 400), (10, 120, 200)), "WEBP", quality=50))
    assert data[12:16] == b"VP8 "
    start = data.index(b"\x9d\x01\x2a", 20)  # the VP8 key frame's start code, then the sizes
    struct.pack_into("<HH", data, start + 3, width, height)
    return bytes(data)


_BOMB_MAKERS: dict[str, Callable[[int, int], bytes]] = {
    "JPEG": jpeg_bomb, "PNG": png_bomb, "WEBP": webp_bomb, "BMP": bmp_bomb,
}


def _bomb_sizes(fmt: str) -> list[tuple[int, int]]:
    largest = 16383 if fmt == "WEBP" else 20000
    return [(8000, 6000), (10000, 10000), (largest, largest)]


def _damaged_header(fmt: str) -> bytes:
    data = bytearray(valid_image(fmt))
    if fmt == "PNG":
        data[16:20] = bytes(4)  # IHDR width 0, and its CRC no longer matches
    elif fmt == "JPEG":
        sof = data.index(b"\xff\xc0")
        data[sof + 9] = 0  # the frame has no components
    elif fmt == "WEBP":
        start = data.index(b"\x9d\x01\x2a", 20)
        data[start : start + 3] = bytes(3)  # the VP8 start code is gone
    else:
        data[28] = 13  # 13 bits per pixel
    return bytes(data)


def _damaged_pixels_png() -> bytes:
    data = bytearray(valid_image("PNG"))
    assert data[37:41] == b"IDAT"
    data[41:43] = b"\x00\x00"  # the zlib stream's header: the header chunks are all intact
    return bytes(data)


@dataclass(frozen=True)
class Case:
    name: str
    fmt: str
    data: bytes
    code: str


@functools.cache
def hostile_cases() -> tuple[Case, ...]:
    cases = []
    for fmt in FORMATS:
        for w, h in _bomb_sizes(fmt):
            cases.append(Case(f"{fmt}-bomb-{w}x{h}", fmt, _BOMB_MAKERS[fmt](w, h), "image_too_many_pixels"))
    for fmt in FORMATS:
        data = valid_image(fmt)
        garbage = random.Random(fmt).randbytes(400)
        for name, bad in [
            ("truncated", data[: len(data) // 2]),
            ("damaged-header", _damaged_header(fmt)),
            ("magic-only", MAGIC[fmt]),
            ("garbage-after-magic", MAGIC[fmt] + garbage),
        ]:
            cases.append(Case(f"{fmt}-{name}", fmt, bad, "image_unreadable"))
    cases.append(Case("PNG-damaged-pixels", "PNG", _damaged_pixels_png(), "image_unreadable"))
    return tuple(cases)


def _case(name: str) -> Case:
    return next(case for case in hostile_cases() if case.name == name)


# --- every way an image enters -----------------------------------------------------------


def _data_uri(fmt: str, data: bytes) -> str:
    return f"data:{CONTENT_TYPES[fmt]};base64,{base64.b64encode(data).decode()}"


def upload_multipart(client: httpx.Client, fmt: str, data: bytes) -> tuple[httpx.Response, str]:
    return client.post("/v1/uploads", files={"file": (f"x.{fmt.lower()}", data, CONTENT_TYPES[fmt])}), "file"


def upload_raw(client: httpx.Client, fmt: str, data: bytes) -> tuple[httpx.Response, str]:
    return client.post("/v1/uploads", content=data, headers={"content-type": CONTENT_TYPES[fmt]}), "file"


def generation_data_uri(client: httpx.Client, fmt: str, data: bytes) -> tuple[httpx.Response, str]:
    body = {"prompt": "a horse runs", "image": _data_uri(fmt, data)}
    return client.post("/v1/videos/generations", json=body), "image"


def generation_second_data_uri(client: httpx.Client, fmt: str, data: bytes) -> tuple[httpx.Response, str]:
    """r2v: a good image first, the hostile one second."""
    body = {"prompt": "a horse runs", "image": [_data_uri("PNG", valid_image("PNG")), _data_uri(fmt, data)]}
    return client.post("/v1/videos/generations", json=body), "image[1]"


def generation_multipart(client: httpx.Client, fmt: str, data: bytes) -> tuple[httpx.Response, str]:
    files = {"image": (f"x.{fmt.lower()}", data, CONTENT_TYPES[fmt])}
    return client.post("/v1/videos/generations", data={"prompt": "a horse runs"}, files=files), "image"


ROUTES: dict[str, Callable[[httpx.Client, str, bytes], tuple[httpx.Response, str]]] = {
    "upload-multipart": upload_multipart,
    "upload-raw": upload_raw,
    "generation-data-uri": generation_data_uri,
    "generation-second-data-uri": generation_second_data_uri,
    "generation-multipart": generation_multipart,
}
# Routes that store nothing at all for a refused request (the r2v one stores its
# good first image before the second is refused: an orphan for the storage sweep).
_STORE_NOTHING = {"upload-multipart", "upload-raw", "generation-data-uri", "generation-multipart"}


def check_refused(response: httpx.Response, code: str, param: str) -> None:
    """A 400 in the error envelope of SPEC §6 with ``code`` and ``param``."""
    assert response.status_code == 400, response.text[:500]
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error
    assert error["type"] == "invalid_request_error" and error["message"], error
    assert error["request_id"] == response.headers["x-request-id"]


# --- the bombs are what they claim ----------------------------------------------------------


@pytest.mark.parametrize("name", [case.name for case in hostile_cases() if "-bomb-" in case.name])
def test_bombs_really_declare_their_size(name):
    case = _case(name)
    declared = tuple(int(n) for n in name.rsplit("-", 1)[1].split("x"))
    assert len(case.data) < 64 * 1024
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # read the header, whatever its size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(case.data)) as img:
                assert (img.format, img.size) == (case.fmt, declared)
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    assert declared[0] * declared[1] > PIXEL_CAP


def test_the_damaged_cases_start_from_images_that_are_accepted(service):
    with httpx.Client(base_url=service.base_url, headers=service.headers(), timeout=30) as client:
        for fmt in FORMATS:
            response, _ = upload_raw(client, fmt, valid_image(fmt))
            assert response.status_code == 201, response.text
            assert (response.json()["width"], response.json()["height"]) == (400, 320)


# --- over HTTP ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_hostile(service):
    """A client of a fresh account, and the account's key (its jobs/holds/uploads start empty)."""
    key = service.new_account_key("hostile")
    with httpx.Client(base_url=service.base_url, headers=service.headers(key), timeout=30) as client:
        yield client, key


def _stored_uploads(service) -> int:
    return sum(1 for _ in service.runtime.storage.list_objects("uploads/"))


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("name", [case.name for case in hostile_cases()])
def test_hostile_image_is_a_400_naming_the_field(api_hostile, service, name, route):
    client, _ = api_hostile
    case = _case(name)
    stored = _stored_uploads(service)
    response, param = ROUTES[route](client, case.fmt, case.data)
    check_refused(response, case.code, param)
    if route in _STORE_NOTHING:
        assert _stored_uploads(service) == stored


def test_nothing_was_held_queued_or_uploaded(api_hostile, service):
    """Runs after the cases above (file order): their account still has no job, hold or upload."""
    from sqlalchemy import func, select

    from happyhorse.db.schema import uploads

    client, _ = api_hostile
    account = client.get("/v1/account").json()
    assert (account["held_usd"], account["pending_holds"]) == ("0.00", 0), account
    assert account["balance_usd"] == account["available_usd"] == "100.00", account
    assert client.get("/v1/jobs").json()["data"] == []
    with service.runtime.db.connect() as conn:
        rows = conn.execute(
            select(func.count()).select_from(uploads).where(uploads.c.account_id == account["account_id"])
        ).scalar_one()
    assert rows == 0


# --- memory, in a fresh interpreter ------------------------------------------------------------


def test_hostile_images_cost_under_100_mb():
    """The server and every hostile request by every route, in a fresh process:
    peak RSS after a warm-up with valid images, against the peak after the
    hostile set (sent four at a time)."""
    done = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["refused"] == figures["sent"] == len(hostile_cases()) * len(ROUTES)
    growth_mb = figures["growth_kb"] / 1024
    print(
        f"\nHOSTILE IMAGES: {figures['sent']} hostile requests ({len(hostile_cases())} images x {len(ROUTES)} routes), "
        f"all 400; peak RSS {figures['before_kb'] / 1024:.0f} MB after warm-up -> "
        f"{figures['after_kb'] / 1024:.0f} MB after, growth {growth_mb:.1f} MB (cap 100 MB); "
        f"{figures['seconds']:.1f} s",
        file=sys.stderr,
    )
    assert figures["growth_kb"] < MEMORY_CAP_KB


def _measure() -> dict[str, float]:
    from happyhorse.settings import Settings
    from happyhorse.testing import running_service

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), signing_secret="memory-test")
        with running_service(settings, worker=False) as live:
            warm_key, key = live.new_account_key("warm"), live.new_account_key("hostile")
            with httpx.Client(base_url=live.base_url, headers=live.headers(warm_key), timeout=60) as client:
                for fmt in FORMATS:  # every decoder and every route's code path loaded once
                    for send in ROUTES.values():
                        response, _ = send(client, fmt, valid_image(fmt))
                        assert response.status_code in (200, 201, 202), response.text  # 200: the same bytes uploaded again
            cases = hostile_cases()
            work = [(case, route) for case in cases for route in ROUTES]
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.monotonic()

            def send_one(item: tuple[Case, str]) -> bool:
                case, route = item
                with httpx.Client(base_url=live.base_url, headers=live.headers(key), timeout=60) as client:
                    response, param = ROUTES[route](client, case.fmt, case.data)
                check_refused(response, case.code, param)
                return True

            with ThreadPoolExecutor(4) as pool:
                refused = sum(pool.map(send_one, work))
            seconds = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"sent": len(work), "refused": refused, "before_kb": before, "after_kb": after,
            "growth_kb": after - before, "seconds": seconds}


if __name__ == "__main__":
    print(json.dumps(_measure()))
