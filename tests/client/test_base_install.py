"""``pip install happyhorse`` (no extras) into a fresh virtual environment: the SDK and the
client commands work, and no server or model package comes with them.

Needs the package index (PyPI) for httpx, pydantic, typer and rich; skipped with
the reason when pip cannot reach it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
SERVER_AND_MODEL_PACKAGES = {"fastapi", "sqlalchemy", "alembic", "av", "numpy", "pillow", "torch", "uvicorn",
                             "starlette", "psycopg", "boto3", "diffusers", "transformers", "python-multipart"}
OFFLINE_SIGNS = ("NewConnectionError", "Network is unreachable", "Temporary failure in name resolution",
                 "No matching distribution found", "ProxyError", "Could not fetch URL")


def test_base_install_pulls_in_no_server_or_model_packages(tmp_path):
    # Build from a copy so the build leaves nothing (build/, *.egg-info) in the working tree.
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, pip = venv / "bin" / "python", [str(venv / "bin" / "python"), "-m", "pip"]

    install = subprocess.run([*pip, "install", "--disable-pip-version-check", "--quiet", str(source)],
                             capture_output=True, text=True, timeout=480)
    if install.returncode != 0:
        output = install.stdout + install.stderr
        if any(sign in output for sign in OFFLINE_SIGNS):
            pytest.skip(f"pip could not reach the package index: {output.strip().splitlines()[-1]}")
        pytest.fail(f"pip install failed:\n{output}")

    listed = subprocess.run([*pip, "list", "--format=freeze", "--disable-pip-version-check"],
                            capture_output=True, text=True, check=True, timeout=60).stdout
    installed = {line.split("==")[0].lower().replace("_", "-") for line in listed.splitlines() if "==" in line}
    assert {"happyhorse", "httpx", "pydantic", "typer", "rich"} <= installed
    assert installed & SERVER_AND_MODEL_PACKAGES == set()

    imported = subprocess.run([str(python), "-c", "import happyhorse; happyhorse.Client; happyhorse.AsyncClient"],
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    helped = subprocess.run([str(venv / "bin" / "happyhorse"), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "generate" in helped.stdout
    generate_help = subprocess.run([str(venv / "bin" / "happyhorse"), "generate", "--help"],
                                   capture_output=True, text=True, timeout=60)
    assert generate_help.returncode == 0, generate_help.stderr
