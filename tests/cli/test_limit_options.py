"""The limits are operator-tunable: CLI options and environment variables map onto Settings."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from happyhorse.cli import app
from happyhorse.cli.options import LIMITS, SWEEP, make_settings


def test_given_limits_become_settings_fields_and_unset_ones_keep_the_defaults(tmp_path) -> None:
    fields = LIMITS.fields({"rate_limit": 2.5, "max_queued_jobs": 0, "max_body_bytes": 1024})
    assert fields == {"rate_limit_per_second": 2.5, "max_queued_jobs_per_account": 0, "max_body_bytes": 1024}
    settings = make_settings(tmp_path, None, **fields)
    assert (settings.rate_limit_per_second, settings.max_queued_jobs_per_account, settings.max_body_bytes) == (
        2.5, 0, 1024)
    assert settings.rate_limit_burst == 500 and settings.max_image_bytes == 10 * 1024 * 1024


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(typer.BadParameter):
        LIMITS.fields({"max_running_jobs": -1})


@pytest.mark.parametrize(("command", "envvars"), [
    ("serve", ["HAPPYHORSE_RATE_LIMIT", "HAPPYHORSE_RATE_LIMIT_BURST", "HAPPYHORSE_MAX_QUEUED_JOBS",
               "HAPPYHORSE_MAX_RUNNING_JOBS", "HAPPYHORSE_MAX_BODY_BYTES", "HAPPYHORSE_MAX_IMAGE_BYTES"]),
    ("api", ["HAPPYHORSE_RATE_LIMIT", "HAPPYHORSE_MAX_QUEUED_JOBS", "HAPPYHORSE_MAX_BODY_BYTES"]),
    ("worker", ["HAPPYHORSE_MAX_RUNNING_JOBS", "HAPPYHORSE_MAX_IMAGE_BYTES"]),
])
def test_the_commands_document_their_limit_options(command: str, envvars: list[str]) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    for envvar in envvars:
        assert envvar in result.output, (command, envvar)


def test_sweep_options_become_settings_fields(tmp_path) -> None:
    assert SWEEP.fields({}) == {}
    settings = make_settings(tmp_path, None, **SWEEP.fields({"sweep_interval": 0, "sweep_grace": 60}))
    assert (settings.storage_sweep_interval_seconds, settings.storage_sweep_grace_seconds) == (0, 60)


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_the_worker_commands_document_the_sweep_options(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "HAPPYHORSE_SWEEP_INTERVAL" in result.output and "HAPPYHORSE_SWEEP_GRACE" in result.output


@pytest.mark.parametrize("command", ["serve", "api"])
def test_the_api_commands_document_the_stream_cap(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "--max-streams-per-key" in result.output and "HAPPYHORSE_MAX_STREAMS_PER_KEY" in result.output


def test_the_stream_cap_becomes_a_settings_field(tmp_path) -> None:
    assert make_settings(tmp_path, None, **LIMITS.fields({})).max_streams_per_key == 10
    assert make_settings(tmp_path, None, **LIMITS.fields({"max_streams_per_key": 3})).max_streams_per_key == 3
    with pytest.raises(typer.BadParameter):
        LIMITS.fields({"max_streams_per_key": -1})
