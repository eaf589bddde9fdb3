"""bench/gpu_check.py's magihuman family: its dry run (both families, the default) reports every stage of
every case beside the published figures and frees ltx2 first; its full-size configs are the published sizes;
its budget skips what would not fit."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
MAGI_STAGE_LINES = ("text encoding", "base steps", "8 steps x", "SR steps", "5 steps x", "s/step", "audio decode",
                    "video decode", "H.264 encode", "store", "end-to-end (MP4 stored)", "wall ÷ video seconds",
                    "peak GPU memory", "peak host RSS", "published, one H100, 5 s")
LTX2_STAGE_LINES = ("text encoding", "s/step", "VAE decode", "audio decode", "H.264 encode", "store",
                    "end-to-end (MP4 stored)", "peak GPU memory", "ours ÷ stock, one job")


def need_diffusion() -> None:
    for module in ("torch", "diffusers", "transformers"):
        pytest.importorskip(module, reason="the diffusion extra is not installed")


def load(name: str):
    """A bench script as a module (its imports need ``bench/`` on the path)."""
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def sections(report: str) -> dict[str, str]:
    return {part.splitlines()[0].split(":")[0]: part for part in report.split("\n== ")[1:]}


def test_dry_run_of_both_reports_every_stage_of_both_families(tmp_path):
    need_diffusion()
    result = subprocess.run([sys.executable, str(BENCH / "gpu_check.py"), "--dry-run", "--engine", "both",
                             "--json", str(tmp_path / "report.json")],
                            capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    report = result.stdout
    ltx2, magi = report.split("#### magihuman")
    assert "ltx2 freed" in ltx2 and report.rstrip().endswith("s") and "magihuman freed" in magi
    ltx2_cases = sections(ltx2)
    assert list(ltx2_cases)[:2] == ["t2v 720p 1 s", "two-stage 1080p 1 s"]  # both: no i2v, no back-to-back pair
    for title in ("t2v 720p 1 s", "two-stage 1080p 1 s"):
        for line in LTX2_STAGE_LINES:
            assert line in ltx2_cases[title], f"ltx2 {title}: no {line!r}"
    assert "back-to-back" not in ltx2
    cases = sections(magi)
    titles = ["magihuman t2v 720p 1 s", "magihuman t2v 1080p 1 s", "magihuman i2v 720p 1 s",
              "magihuman i2v 1080p 1 s"]
    assert list(cases) == [*titles, "magihuman summary"]
    for title in titles:
        for line in MAGI_STAGE_LINES:
            assert line in cases[title], f"{title}: no {line!r} in\n{cases[title]}"
        assert "skipped" not in cases[title] and "failed" not in cases[title]
    assert "SR 540p DiT" in cases[titles[0]] and "SR 1080p DiT" in cases[titles[1]]
    assert "VAE encode" in cases[titles[2]] and "VAE encode" not in cases[titles[0]]
    assert "38.4 s" in cases[titles[1]] and "8.0 s" in cases[titles[0]]
    figures = json.loads((tmp_path / "report.json").read_text())
    assert [c["skipped"] for c in figures["magihuman"]["cases"]] == ["", "", "", ""]
    assert all(c["ours"]["wall"] > 0 and len(c["ours"]["stages"]["steps"]["SR"]) == 5
               for c in figures["magihuman"]["cases"])


def test_full_size_components_are_the_published_sizes():
    """Built on the meta device (no memory): 15.3B per DiT, the 1080p SR DiT's local layers, 48/64 channels."""
    need_diffusion()
    import torch

    from happyhorse.engines.magihuman.dit import MagiDiT

    magi = load("gpu_check_magihuman")
    configs, frf = magi.dit_configs(dry_run=False)
    with torch.device("meta"):
        counts = {key: sum(t.numel() for t in MagiDiT(config).state_dict().values())  # the rotary bands too
                  for key, config in configs.items()}
    assert counts["distilled"] == counts["sr_1080p"] == 15_299_419_152  # ENGINES.md's count
    assert len(configs["sr_1080p"].local_attn_layers) == 32 and not configs["sr_540p"].local_attn_layers
    assert frf == 11
    text = magi.read_config(magi.CONFIGS / magi.TEXT_FILE)["encoder"]
    assert text["hidden_size"] == configs["distilled"].text_in_channels == 3584
    wan = magi.read_config(magi.CONFIGS / magi.VIDEO_VAE_FILE)
    assert wan["z_dim"] * 4 == configs["distilled"].video_in_channels and len(wan["latents_std"]) == 48
    oobleck = magi.read_config(magi.CONFIGS / magi.AUDIO_VAE_FILE)
    assert oobleck["decoder_input_channels"] == configs["distilled"].audio_in_channels == 64


def test_budget_skips_a_case_that_would_not_fit():
    need_diffusion()
    magi = load("gpu_check_magihuman")
    gpu = load("_gpu")
    t2v = magi.Outcome("t2v", 5, "t2v-720p", ours=gpu.Run(wall=50.0, clock=None))  # twice the estimate
    assert magi.Budget(10_000).why_not(magi.CASES["t2v-1080p"], [t2v]) == ""
    assert magi.Budget(150).why_not(magi.CASES["t2v-1080p"], [t2v]).startswith("skipped: needs ~180 s")
    assert magi.Budget(0).why_not(magi.CASES["t2v-720p"], []).startswith("skipped")
