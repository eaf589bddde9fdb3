"""A real server on a loopback port (API + in-process worker + preview engine), and picture helpers."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import happyhorse
from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[LiveService]:
    """Jobs run (3 s preview jobs take about a second and a half)."""
    with running_service(Settings(data_dir=tmp_path_factory.mktemp("hh-sdk"), signing_secret="s")) as live:
        yield live


@pytest.fixture(scope="module")
def idle_service(tmp_path_factory) -> Iterator[LiveService]:
    """No worker: jobs stay queued (for cancel, timeouts and pagination without render time)."""
    with running_service(Settings(data_dir=tmp_path_factory.mktemp("hh-idle"), signing_secret="s"), worker=False) as live:
        yield live


@pytest.fixture
def client(service) -> Iterator[happyhorse.Client]:
    with happyhorse.Client(api_key=service.api_key, base_url=service.base_url) as c:
        yield c


@pytest.fixture
def idle_client(idle_service) -> Iterator[happyhorse.Client]:
    with happyhorse.Client(api_key=idle_service.api_key, base_url=idle_service.base_url) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _picture(width: int, height: int, seed: int):  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (40 + 30 * seed % 200, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 4, height // 4, width // 2, height // 2), fill=(230, 200, 40))
    draw.ellipse((width // 2, height // 3, width - 20, height - 20), fill=(200, 30 * seed % 255, 60))
    return image


@pytest.fixture
def pil_image() -> Callable[..., object]:
    """``pil_image(width, height, seed=0)``: a PIL picture (sides >= 300 px pass the image rules)."""
    return lambda width=640, height=480, seed=0: _picture(width, height, seed)


@pytest.fixture
def image_file(tmp_path) -> Callable[..., Path]:
    """``image_file(width, height, seed=0, fmt="PNG")``: a picture written to a file, its path."""

    def make(width: int = 640, height: int = 480, seed: int = 0, fmt: str = "PNG") -> Path:
        path = tmp_path / f"picture-{width}x{height}-{seed}.{fmt.lower()}"
        buffer = io.BytesIO()
        _picture(width, height, seed).save(buffer, fmt)
        path.write_bytes(buffer.getvalue())
        return path

    return make
