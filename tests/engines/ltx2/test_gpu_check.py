"""bench/gpu_check.py: its dry run walks the GPU check's whole path and reports every figure; its
full-size configs are LTX-2.3's published sizes; it refuses a machine without a GPU; its budget skips."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import need_diffusion

BENCH = Path(__file__).resolve().parents[3] / "bench"
SCRIPT = BENCH / "gpu_check.py"
# What the report must say, per stage and per comparison, for every case it ran.
STAGE_LINES = ("text encoding", "s/step", "VAE decode", "audio decode", "H.264 encode", "store",
               "end-to-end (MP4 stored)", "wall ÷ video seconds", "peak GPU memory", "peak host RSS",
               "ours ÷ stock, one job")


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=240,
                          env={**os.environ, **env})


def load_bench():
    """The script as a module (its dataclasses need it in ``sys.modules``, its imports need ``bench/``)."""
    if "gpu_check" in sys.modules:
        return sys.modules["gpu_check"]
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = sys.modules["gpu_check"] = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def cases(report: str) -> dict[str, str]:
    """The report's text per case, keyed by its ``== title`` line."""
    sections = report.split("\n== ")[1:]
    return {section.splitlines()[0].split(":")[0]: section for section in sections}


def test_dry_run_reports_every_stage_and_ratio(tmp_path):
    need_diffusion()
    result = run("--dry-run", "--engine", "ltx2", "--json", str(tmp_path / "report.json"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    report = result.stdout
    assert "family: LTX-2.3 (22B)" in report and "LTX2VocoderWithBWE" in report
    sections = cases(report)
    assert list(sections) == ["t2v 720p 1 s", "two-stage 1080p 1 s", "i2v 720p 1 s", "summary"]
    for title in ("t2v 720p 1 s", "two-stage 1080p 1 s", "i2v 720p 1 s"):
        for line in STAGE_LINES:
            assert line in sections[title], f"{title}: no {line!r} in\n{sections[title]}"
        assert "skipped" not in sections[title] and "failed" not in sections[title]
    two_stage = sections["two-stage 1080p 1 s"]
    assert "-> upsample ->" in two_stage and "upsampling" in two_stage
    assert "denoising stage 1" in two_stage and "denoising stage 2" in two_stage and "3 steps x" in two_stage
    assert "8 steps x" in sections["t2v 720p 1 s"] and "VAE encode" in sections["i2v 720p 1 s"]
    assert "back-to-back, 2 jobs" in sections["t2v 720p 1 s"] and "steady state" in sections["t2v 720p 1 s"]
    assert "2 jobs back to back" in sections["summary"]
    figures = json.loads((tmp_path / "report.json").read_text())["ltx2"]
    assert [case["skipped"] for case in figures["cases"]] == ["", "", ""]
    assert "#### magihuman" not in report
    assert all(case["ours"]["wall"] > 0 and case["stock"]["wall"] > 0 for case in figures["cases"])
    assert figures["cases"][0]["back_to_back"]["ours"] > 0


def test_refuses_without_cuda():
    need_diffusion()
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    result = run()
    assert result.returncode == 2 and "no CUDA GPU" in result.stderr


def test_full_size_configs_are_ltx_2_3s_published_sizes():
    """Built on the meta device (no memory): the transformer and its text connectors make LTX-2.3's 22B."""
    need_diffusion()
    import torch

    bench = load_bench()
    with torch.device("meta"):
        parts = bench.build_parts(bench.CONFIGS, bench.FAMILIES["ltx23"])
        ltx2 = bench.build_parts(bench.CONFIGS, bench.FAMILIES["ltx2"])

    def billions(module) -> float:
        return sum(p.numel() for p in module.parameters()) / 1e9

    assert round(billions(parts["transformer"]) + billions(parts["connectors"]), 1) == 22.2
    assert round(billions(ltx2["transformer"]), 1) == 18.9
    assert type(parts["vocoder"]).__name__ == "LTX2VocoderWithBWE"
    assert parts["vocoder"].config.output_sampling_rate == 48000
    assert parts["transformer"].config.gated_attn and parts["transformer"].config.cross_attn_mod
    assert parts["latent_upsampler"].config.mid_channels == 1024
    text = json.loads((bench.CONFIGS / bench.TEXT_ENCODER_FILE).read_text())["text_config"]
    assert (text["hidden_size"], text["num_hidden_layers"]) == (3840, 48)  # what the connectors read: 3840 x 49


def test_budget_skips_a_case_that_would_not_fit():
    bench = load_bench()
    t2v = bench.Outcome("t2v 720p 5 s", 5, ours=bench.Run(wall=30.0, clock=None),
                        stock=bench.Run(wall=28.0, clock=None))
    roomy, tight = bench.Budget(10_000), bench.Budget(100)
    assert roomy.why_not(bench.CASES["two-stage"], [t2v]) == ""
    assert tight.why_not(bench.CASES["two-stage"], [t2v]).startswith("skipped: needs ~133 s")
    assert bench.Budget(0).why_not(bench.CASES["t2v"], []).startswith("skipped")


def test_wrapper_says_how_to_get_the_wheels(tmp_path):
    wrapper = BENCH / "gpu_check.sh"
    result = subprocess.run(["bash", str(wrapper)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "GPU_WHEELS": str(tmp_path / "none")})
    assert result.returncode == 2 and "scripts/fetch-gpu-wheels" in result.stderr
