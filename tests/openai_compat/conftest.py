"""A live service (API + in-process worker, preview engine) driven by the real ``openai`` package."""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np
import openai
import pytest
from PIL import Image

from happyhorse.settings import Settings
from happyhorse.testing import running_service

# `videos.create` is marked deprecated in the openai package (the Sora API's shutdown date): not ours.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"openai\..*")


@pytest.fixture(scope="package")
def service(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-openai"), signing_secret="test-secret")
    with running_service(settings) as live:
        yield live


@pytest.fixture(scope="package")
def client(service) -> openai.OpenAI:
    """The ``openai`` client with only ``base_url`` and ``api_key`` changed (and no retries: a test
    that expects a 409 should not wait through the client's backoff)."""
    with openai.OpenAI(base_url=service.base_url + "/v1", api_key=service.api_key, max_retries=0, timeout=60) as c:
        yield c


def png_bytes(width: int = 640, height: int = 360, *, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), np.full_like(x, 128)], -1)
    pixels[: height // 3, : width // 3] = rng.integers(0, 255, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()
