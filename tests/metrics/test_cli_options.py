"""The metrics options: ``serve`` and ``api`` take all three, ``worker`` has no API port and so no token."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from happyhorse.cli import app


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "1000", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", ["serve", "api", "worker"])
def test_each_command_takes_its_metrics_options(command: str) -> None:
    shown = _help(command)
    assert "--metrics-port" in shown and "[env var: HAPPYHORSE_METRICS_PORT]" in shown
    assert "--metrics-host" in shown and "[default: 127.0.0.1]" in shown
    assert ("--metrics-token" in shown) is (command != "worker")


def test_a_metrics_port_below_1_is_refused() -> None:
    result = CliRunner().invoke(app, ["worker", "--metrics-port", "0"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 2
    assert "--metrics-port" in result.output
