"""``weights check|download --engine magihuman``: the published layout, what is missing, a faked download."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from happyhorse.cli.weights import weights_app
from happyhorse.engines.magihuman.weights import MODEL_REPO, check_weights, download_weights

runner = CliRunner()


def test_check_a_complete_directory(magi_weights):
    report = check_weights(magi_weights)
    assert report.complete, report.summary()
    result = runner.invoke(weights_app, ["check", "--engine", "magihuman", str(magi_weights)])
    assert result.exit_code == 0, result.output
    assert "complete" in result.output and "text_encoder" in result.output


def test_check_names_what_is_missing(magi_weights, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(magi_weights, broken)
    shutil.rmtree(broken / "1080p_sr")
    (broken / "stable-audio-open-1.0" / "vae" / "config.json").unlink()
    report = check_weights(broken)
    assert report.missing == ["sr_1080p", "audio_vae"]
    result = runner.invoke(weights_app, ["check", "--engine", "magihuman", str(broken)])
    assert result.exit_code == 1
    assert "MISSING  sr_1080p" in result.output and "MISSING  audio_vae" in result.output
    assert "1080p_sr" in result.output


def test_one_profile_is_enough_but_the_engine_needs_its_own(magi_weights, tmp_path):
    only_base = tmp_path / "base-only"
    shutil.copytree(magi_weights, only_base)
    shutil.rmtree(only_base / "distill")
    assert check_weights(only_base).complete
    assert check_weights(only_base, profile="distilled").missing == ["distilled"]
    assert check_weights(only_base, profile="base").complete


def test_check_an_empty_directory(tmp_path):
    report = check_weights(tmp_path)
    assert set(report.missing) == {"distilled", "base", "sr_540p", "sr_1080p", "text_encoder", "video_vae",
                                   "audio_vae"}


def test_download_fetches_every_part_then_checks(magi_weights, tmp_path):
    calls = []

    def fake_download(*, repo_id, local_dir, allow_patterns, token):
        calls.append((repo_id, allow_patterns))
        # Play the Hub: copy what the patterns select out of the tiny directory.
        if repo_id == MODEL_REPO:
            for pattern in allow_patterns:
                folder = pattern.split("/")[0]
                if (magi_weights / folder).is_dir():
                    shutil.copytree(magi_weights / folder, tmp_path / "w" / folder)
        else:
            name = local_dir.rsplit("/", 1)[-1]
            shutil.copytree(magi_weights / name, local_dir)

    report = download_weights(tmp_path / "w", profiles=("distilled",), download=fake_download, token="t")
    assert report.complete, report.summary()
    assert calls == [
        (MODEL_REPO, ["distill/*", "540p_sr/*", "1080p_sr/*"]),
        ("google/t5gemma-9b-9b-ul2", None),
        ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", ["vae/*"]),
        ("stabilityai/stable-audio-open-1.0", ["vae/*"]),
    ]


def test_the_ltx2_layout_stays_the_default(tmp_path):
    result = runner.invoke(weights_app, ["check", str(tmp_path)])
    assert result.exit_code == 1 and "magihuman" not in result.output
