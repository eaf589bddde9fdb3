"""The packaged assets (CSS, JavaScript modules, icons) under ``/static/web``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

STATIC_URL = "/static/web"


def static_dir() -> Path:
    return Path(str(files("happyhorse.web") / "static"))


def mount_static(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=static_dir()), name="web-static")
