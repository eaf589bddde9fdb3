"""bench/gpu_ltx2.py: refuses without CUDA, and its code path runs (on the CPU, with tiny configs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import build_tiny_pipeline, need_diffusion

BENCH = Path(__file__).resolve().parents[3] / "bench" / "gpu_ltx2.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=300)


def test_refuses_without_cuda():
    need_diffusion()
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    result = run()
    assert result.returncode == 2 and "no CUDA GPU" in result.stderr


def test_the_full_size_configs_name_the_published_shapes():
    configs = BENCH.parent / "configs"
    transformer = json.loads((configs / "ltx2_19b_transformer.json").read_text())
    assert (transformer["num_layers"], transformer["num_attention_heads"], transformer["attention_head_dim"]) == (
        48, 32, 128)
    assert transformer["caption_channels"] == 3840
    connectors = json.loads((configs / "ltx2_19b_connectors.json").read_text())
    assert connectors["text_proj_in_factor"] == 49


def test_smoke_run_on_the_cpu_with_tiny_configs(tmp_path):
    need_diffusion()
    pipe = build_tiny_pipeline()
    names = {"transformer": "ltx2_19b_transformer.json", "connectors": "ltx2_19b_connectors.json",
             "vae": "ltx2_19b_vae.json", "audio_vae": "ltx2_19b_audio_vae.json", "vocoder": "ltx2_19b_vocoder.json"}
    for component, name in names.items():
        (tmp_path / name).write_text(json.dumps(dict(getattr(pipe, component).config)))
    (tmp_path / "gemma3_12b_text_encoder.json").write_text(json.dumps(pipe.text_encoder.config.to_dict()))
    result = run("--allow-cpu", "--configs", str(tmp_path), "--width", "64", "--height", "64", "--duration", "1",
                 "--steps", "2", "--guidance", "1", "--max-sequence-length", "16")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ratio engine / stock:" in result.stdout and "s/step" in result.stdout
