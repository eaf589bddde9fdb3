"""``happyhorse weights check`` (a subprocess, as an operator runs it) and ``weights download``'s arguments."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from happyhorse.cli import app

CLI = [sys.executable, "-c", "from happyhorse.cli import main; main()"]


def check(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "weights", "check", str(directory)], capture_output=True, text=True, timeout=60)


def test_a_complete_directory_is_reported_complete(tiny_weights):
    result = check(tiny_weights)
    assert result.returncode == 0, result.stderr
    assert "complete:" in result.stdout and "LTX2Pipeline" in result.stdout
    for component in ("transformer", "vae", "audio_vae", "vocoder", "text_encoder", "tokenizer", "connectors",
                      "scheduler"):
        assert f"ok       {component}" in result.stdout


@pytest.mark.parametrize("remove", ["vae/diffusion_pytorch_model.safetensors", "connectors", "tokenizer",
                                    "scheduler/scheduler_config.json", "model_index.json"])
def test_a_broken_directory_names_the_missing_part(tiny_weights, tmp_path, remove):
    broken = tmp_path / "weights"
    shutil.copytree(tiny_weights, broken)
    target = broken / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    result = check(broken)
    assert result.returncode == 1
    missing = remove.split("/")[0]
    assert f"lacks {missing}" in result.stderr, result.stderr
    assert "MISSING" in result.stdout


def test_a_missing_shard_is_named(tiny_weights, tmp_path):
    broken = tmp_path / "weights"
    shutil.copytree(tiny_weights, broken)
    index = {"weight_map": {"a": "diffusion_pytorch_model-00001-of-00002.safetensors",
                            "b": "diffusion_pytorch_model-00002-of-00002.safetensors"}}
    (broken / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    result = check(broken)
    assert result.returncode == 1 and "00001-of-00002" in result.stdout and "lacks transformer" in result.stderr


def test_download_passes_its_arguments_and_checks_the_result(tiny_weights, tmp_path, monkeypatch):
    calls = []

    def fake_download(target, *, repo_id, revision, token):
        calls.append((target, repo_id, revision, token))
        shutil.copytree(tiny_weights, target, dirs_exist_ok=True)
        return target

    monkeypatch.setattr("happyhorse.engines.ltx2.weights.download_weights", fake_download)
    target = tmp_path / "ltx2"
    result = CliRunner().invoke(app, ["weights", "download", str(target), "--repo-id", "me/ltx", "--revision", "v1"])
    assert result.exit_code == 0, result.output
    assert calls == [(target, "me/ltx", "v1", None)] and "complete:" in result.output
    calls.clear()
    CliRunner().invoke(app, ["weights", "download", str(target)], env={"HF_TOKEN": ""})
    assert calls[0][1] == "Lightricks/LTX-2"


def test_download_fetches_only_the_index_its_components_and_the_upsampler(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    requested = []

    def fake_snapshot(*, repo_id, revision, local_dir, token, allow_patterns):
        requested.append(allow_patterns)
        index = {"_class_name": "LTX2Pipeline", "vae": ["diffusers", "AutoencoderKLLTX2Video"],
                 "processor": [None, None], "tokenizer": ["transformers", "GemmaTokenizer"]}
        (Path(local_dir) / "model_index.json").write_text(json.dumps(index))
        return local_dir

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    from happyhorse.engines.ltx2.weights import download_weights

    download_weights(tmp_path / "w", repo_id="me/ltx")
    assert requested == [["model_index.json"], ["model_index.json", "vae/*", "tokenizer/*", "latent_upsampler/*"]]


def test_the_family_and_the_upsampler_are_named(tiny_weights, tiny_weights_2_3):
    old, new = check(tiny_weights), check(tiny_weights_2_3)
    assert old.returncode == 0 and new.returncode == 0, old.stderr + new.stderr
    assert "family   LTX-2 (vocoder LTX2Vocoder, 16000 Hz)" in old.stdout
    assert "two-stage 1080p: not available" in old.stdout
    assert "family   LTX-2.3 (vocoder LTX2VocoderWithBWE, 48000 Hz)" in new.stdout
    assert "ok       latent_upsampler" in new.stdout and "two-stage 1080p: available" in new.stdout
    assert "complete:" in new.stdout and "LTX-2.3" in new.stdout


def test_an_upsampler_kept_apart_is_checked_too(tiny_weights, tiny_weights_2_3, tmp_path):
    result = subprocess.run([*CLI, "weights", "check", str(tiny_weights), "--upsampler", str(tiny_weights_2_3)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "two-stage 1080p: available" in result.stdout, result.stderr
    broken = tmp_path / "upsampler"
    shutil.copytree(tiny_weights_2_3 / "latent_upsampler", broken)
    (broken / "diffusion_pytorch_model.safetensors").unlink()
    result = subprocess.run([*CLI, "weights", "check", str(tiny_weights), "--upsampler", str(broken)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "lacks latent_upsampler" in result.stderr


def test_a_later_generation_is_refused_by_name(tiny_weights_2_3, tmp_path):
    later = tmp_path / "weights"
    shutil.copytree(tiny_weights_2_3, later)
    config_path = later / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config.update(ff_bias=False, use_prompt_adaln_single=False)  # LTX-2.5's switches
    config_path.write_text(json.dumps(config))
    result = check(later)
    assert result.returncode == 1 and "LTX-2 and LTX-2.3 only" in result.stdout
