"""``happyhorse serve|worker --engine ltx2 --weights DIR ...``: the flags reach the engine, which fails fast."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from happyhorse.cli import app


def test_worker_refuses_an_incomplete_weights_directory_before_starting(tiny_weights, tmp_path):
    broken = tmp_path / "weights"
    shutil.copytree(tiny_weights, broken)
    shutil.rmtree(broken / "audio_vae")
    result = CliRunner().invoke(app, ["worker", "--engine", "ltx2", "--weights", str(broken), "--steps", "2",
                                      "--profile", "distilled", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "audio_vae" in result.output and "weights check" in result.output
    assert not (tmp_path / "d").exists()


def test_bad_engine_flags_exit_2_naming_them(tiny_weights, tmp_path):
    result = CliRunner().invoke(app, ["serve", "--engine", "ltx2", "--weights", str(tiny_weights),
                                      "--cache", "first-block", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "cache must be one of" in result.output
    result = CliRunner().invoke(app, ["worker", "--weights", str(tiny_weights), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "preview engine takes no options" in result.output
