"""Issue 10, finding 10: a burst of large legal images leaves no memory behind.

Decoding a 40 MP WEBP takes hundreds of MB; glibc kept what Pillow freed in
its per-thread heaps, so a server went from 130 MB to 950 MB after sixteen
such uploads and stayed there. The decode budget now trims the heap when a
burst ends (``happyhorse.inputs.decode_budget``). This test runs a real
``happyhorse serve`` process, sends a burst of distinct 40 MP lossless WEBPs
(15 kB each) to ``POST /v1/uploads`` from several clients at once, and reads
the server's resident memory from ``/proc`` before and after.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from happyhorse.testing import free_port, wait_for_health

BURST = 8
CLIENTS = 4
MAX_GROWTH_MB = 150  # the old code grew by ~600 MB for this burst

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")


def _rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS line")


@functools.cache
def _large_webp_pixels() -> bytes:
    """A 6300x6300 (39.7 MP, under the 40 MP cap) lossless WEBP."""
    pixels = np.zeros((6300, 6300, 3), np.uint8)
    pixels[:, :, 0] = np.arange(6300) % 256
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "WEBP", lossless=True, method=0)  # method 0: fastest to encode
    return buffer.getvalue()


def _large_webp(variant: int) -> bytes:
    """That WEBP with an unknown RIFF chunk naming ``variant``: the same pixels in different bytes (the same
    bytes twice would be answered from the first upload without a decode), encoded once."""
    image = _large_webp_pixels()
    chunk = b"XVAR" + struct.pack("<I", 4) + struct.pack("<I", variant)
    riff_size = struct.unpack("<I", image[4:8])[0] + len(chunk)
    return image[:4] + struct.pack("<I", riff_size) + image[8:] + chunk


def test_a_burst_of_40_megapixel_uploads_gives_its_memory_back(tmp_path: Path) -> None:
    images = [_large_webp(i) for i in range(BURST)]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "happyhorse"), "serve", "--data-dir", str(tmp_path), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_health(base_url, alive=lambda: server.poll() is None), "the server did not start"
        key = (tmp_path / "dev-api-key").read_text().strip()
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            small = _small_png()  # a warm-up: first-request imports are not the burst's cost
            assert client.post("/v1/uploads", content=small, headers={"Content-Type": "image/png"}).status_code == 201
            before = _rss_mb(server.pid)

            def upload(data: bytes) -> int:
                return client.post("/v1/uploads", content=data, headers={"Content-Type": "image/webp"}).status_code

            with ThreadPoolExecutor(CLIENTS) as pool:
                statuses = list(pool.map(upload, images))
            time.sleep(0.5)
            after = _rss_mb(server.pid)
        print(f"\nDECODE-MEMORY {BURST} x 40 MP WEBP uploads, {CLIENTS} at once: RSS {before} MB -> {after} MB")
        assert statuses == [201] * BURST
        assert after - before < MAX_GROWTH_MB, f"RSS grew from {before} MB to {after} MB and stayed"
    finally:
        server.terminate()
        server.wait(30)


def _small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), "gray").save(buffer, "PNG")
    return buffer.getvalue()
