"""The public surface of ``happyhorse``, pinned, and what ``import happyhorse`` must not load."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import happyhorse

PUBLIC = [
    "APIConnectionError", "APIError", "APIResponseValidationError", "APIStatusError", "APITimeoutError",
    "Account", "AsyncClient", "AuthenticationError", "BadRequestError", "Client", "ConflictError", "EngineInfo",
    "HappyHorseError", "InsufficientCreditsError", "InternalServerError", "Job", "JobCancelledError", "JobDeleted", "JobError",
    "JobFailedError", "JobList", "JobNotCompletedError", "JobRequest", "JobResult", "JobStatus", "Model",
    "NotFoundError", "PayloadTooLargeError", "PermissionDeniedError", "Quote", "RateLimitError", "UnprocessableEntityError",
    "Upload", "Usage", "VideoOutput", "WaitTimeoutError", "__version__",
]

HEAVY = ["alembic", "av", "fastapi", "happyhorse.api", "happyhorse.db", "happyhorse.jobs", "happyhorse.worker",
         "numpy", "PIL", "sqlalchemy", "starlette", "torch", "uvicorn"]


def test_all_is_sorted_and_pinned():
    assert happyhorse.__all__ == sorted(happyhorse.__all__) == PUBLIC
    for name in happyhorse.__all__:
        assert getattr(happyhorse, name) is not None
    sdk = importlib.import_module("happyhorse.client")
    assert sdk.__all__ == sorted(sdk.__all__) == PUBLIC[:-1]


def test_import_happyhorse_loads_no_server_or_model_packages():
    script = f"import json, sys, happyhorse; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_cli_help_works_without_the_server_packages():
    # A finder that makes the server and model packages unimportable, as on the base install.
    script = textwrap.dedent(f"""
        import sys
        blocked = {[m for m in HEAVY if "." not in m]!r}
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in blocked:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
        sys.meta_path.insert(0, Block())
        sys.argv = ["happyhorse", "--help"]
        from happyhorse.cli import main
        for args in (["--help"], ["generate", "--help"], ["jobs", "--help"], ["models", "--help"]):
            sys.argv = ["happyhorse", *args]
            try:
                main()
            except SystemExit as exit:
                assert exit.code in (0, None), (args, exit.code)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"}, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr
    assert "generate" in done.stdout and "serve" in done.stdout and "--no-wait" in done.stdout
