"""Without the diffusion extra: ``--engine ltx2`` fails at start-up saying what to install; the rest runs.

Simulated in a subprocess whose import system refuses torch, diffusers and
the other packages of the extra (as on a base or server install).
"""

from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import sys
BLOCKED = {"torch", "diffusers", "transformers", "accelerate", "safetensors", "huggingface_hub"}
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
"""


def run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + code, *args], capture_output=True, text=True, timeout=120)


def cli(*args: str) -> subprocess.CompletedProcess:
    return run("import sys; sys.argv = ['happyhorse', *sys.argv[1:]]\nfrom happyhorse.cli import main; main()", *args)


def test_worker_and_serve_with_ltx2_fail_at_start_up_with_the_install_command(tmp_path):
    for command in ("worker", "serve"):
        result = cli(command, "--engine", "ltx2", "--weights", str(tmp_path), "--data-dir", str(tmp_path / "d"))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "pip install 'happyhorse[diffusion]'" in result.stderr and "torch" in result.stderr
        assert not (tmp_path / "d").exists()  # failed before opening anything


def test_the_server_and_preview_engine_import_and_run_without_torch():
    result = run(
        "import happyhorse, happyhorse.engines, happyhorse.worker, happyhorse.app, happyhorse.cli\n"
        "from happyhorse.engines import ENGINE_INFO, GenerationSpec, NullContext, load_engine\n"
        "assert ENGINE_INFO['ltx2']['neural']\n"
        "clip = load_engine('preview').generate(GenerationSpec('t2v', 'x', 64, 64, 24, 1), NullContext())\n"
        "assert len(list(clip.frames)) == 24\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr


def test_weights_check_works_without_torch(tmp_path):
    result = cli("weights", "check", str(tmp_path))
    assert result.returncode == 1 and "lacks model_index.json" in result.stderr


def test_download_without_huggingface_hub_says_what_to_install(tmp_path):
    result = cli("weights", "download", str(tmp_path / "w"))
    assert result.returncode == 2 and "pip install 'happyhorse[diffusion]'" in result.stderr
