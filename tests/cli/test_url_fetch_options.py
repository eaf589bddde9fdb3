"""The image-URL fetch caps (finding 5) are operator-tunable on the commands that run the API."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from happyhorse.cli import app
from happyhorse.cli.options import LIMITS, make_settings
from happyhorse.settings import Settings


def test_the_fetch_caps_become_settings_fields_and_default_to_2_and_16(tmp_path) -> None:
    fields = LIMITS.fields({"max_url_fetches_per_account": 3, "max_url_fetches": 0})
    assert fields == {"max_url_fetches_per_account": 3, "max_url_fetches": 0}
    settings = make_settings(tmp_path, None, **fields)
    assert (settings.max_url_fetches_per_account, settings.max_url_fetches) == (3, 0)
    assert (Settings().max_url_fetches_per_account, Settings().max_url_fetches) == (2, 16)


@pytest.mark.parametrize("command", ["serve", "api"])
def test_the_api_commands_document_the_fetch_caps_and_the_private_fetch_switch(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    for envvar in ("HAPPYHORSE_MAX_URL_FETCHES_PER_ACCOUNT", "HAPPYHORSE_MAX_URL_FETCHES",
                   "HAPPYHORSE_ALLOW_PRIVATE_FETCH"):
        assert envvar in result.output, (command, envvar)
