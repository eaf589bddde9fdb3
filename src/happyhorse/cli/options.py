"""Options shared by several commands, and building Settings from them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from happyhorse.settings import Settings, default_data_dir

DataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="HAPPYHORSE_DATA_DIR", help="Where the database (SQLite), files and keys live."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="HAPPYHORSE_DATABASE_URL",
        help="sqlite:///path or postgresql://user@host/db (default: SQLite in the data dir).",
    ),
]
Engine = Annotated[str, typer.Option("--engine", envvar="HAPPYHORSE_ENGINE", help="Engine that generates: preview.")]
Host = Annotated[str, typer.Option("--host", envvar="HAPPYHORSE_HOST", help="Interface to listen on.")]
Port = Annotated[int, typer.Option("--port", envvar="HAPPYHORSE_PORT", help="Port to listen on.")]
PublicUrl = Annotated[
    str | None,
    typer.Option("--public-url", envvar="HAPPYHORSE_PUBLIC_URL", help="Base URL clients use (for signed output URLs)."),
]
AllowPrivateFetch = Annotated[
    bool,
    typer.Option(
        "--allow-private-fetch",
        envvar="HAPPYHORSE_ALLOW_PRIVATE_FETCH",
        help="Let image URLs point at loopback/private addresses (local use only).",
    ),
]


def make_settings(data_dir: Path | None = None, database_url: str | None = None, **extra: object) -> Settings:
    settings = Settings(
        data_dir=(data_dir or default_data_dir()).expanduser(),
        database_url=database_url,
        # Every API and worker process of one deployment must share it.
        signing_secret=os.environ.get("HAPPYHORSE_SIGNING_SECRET") or None,
    )
    for name, value in extra.items():
        setattr(settings, name, value)
    return settings


def default_dir() -> Path:
    return default_data_dir()
