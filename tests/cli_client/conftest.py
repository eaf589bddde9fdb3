"""``happyhorse generate|jobs|models`` run as subprocesses against a real server on a loopback port."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from happyhorse.settings import Settings
from happyhorse.testing import LiveService, running_service

EXE = str(Path(sys.executable).parent / "happyhorse")


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[LiveService]:
    with running_service(Settings(data_dir=tmp_path_factory.mktemp("hh-cli"), signing_secret="s")) as live:
        yield live


@pytest.fixture(scope="module")
def idle_service(tmp_path_factory) -> Iterator[LiveService]:
    """No worker: jobs stay queued."""
    with running_service(Settings(data_dir=tmp_path_factory.mktemp("hh-cli-idle"), signing_secret="s"),
                         worker=False) as live:
        yield live


def client_env(live: LiveService | None, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a client command: the service's URL and key, an empty data dir
    (so no dev key is picked up from the home directory), wide plain output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAPPYHORSE_")}
    env.update(HAPPYHORSE_DATA_DIR=str(tmp / "no-data-dir"), COLUMNS="160", NO_COLOR="1", PYTHONUNBUFFERED="1")
    if live is not None:
        env.update(HAPPYHORSE_API_KEY=live.api_key, HAPPYHORSE_BASE_URL=live.base_url)
    env.update(extra)
    return env


@pytest.fixture
def cli(service, tmp_path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args, live=service, env={...})``: run ``happyhorse ARGS`` in ``tmp_path``; never raises on exit codes."""

    def run(*args: str, live: LiveService | None = service, env: dict[str, str] | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                              env=client_env(live, tmp_path, **(env or {})), stdin=subprocess.DEVNULL)

    return run


@pytest.fixture
def picture(tmp_path) -> Callable[..., Path]:
    """``picture(width, height)``: a PNG file that passes the image rules."""

    def make(width: int = 640, height: int = 480) -> Path:
        from PIL import Image

        path = tmp_path / f"picture-{width}x{height}.png"
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "PNG")
        path.write_bytes(buffer.getvalue())
        return path

    return make
