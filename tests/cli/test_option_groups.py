"""The operator options are declared once: each sets a real Settings field, and ``--help`` shows its default
as ``Settings()`` has it (issue 11, point 5)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from happyhorse.cli import app
from happyhorse.cli.options import GROUPS, LIMITS, LISTEN, LTX2, SettingOption, field_docs, with_settings
from happyhorse.settings import Settings

COMMANDS = [["serve"], ["api"], ["worker"], ["storage", "sweep"]]
ALL_OPTIONS = [option for group in GROUPS.values() for option in group.options]
SETTINGS_FIELDS = {field.name for field in dataclasses.fields(Settings)}

# Settings fields no option sets, and why: a new field must be given an option or a line here.
NOT_OPTIONS = {
    "signing_secret": "HAPPYHORSE_SIGNING_SECRET only: a flag would show the secret in `ps`",
    "url_ttl_seconds": "how long signed output URLs last: fixed for now",
    "fetch_timeout_seconds": "the image-URL time budget: fixed for now",
    "accept_image_urls": "library and test use (a server that must not reach out)",
    "lease_seconds": "the claim protocol's timing, tuned with heartbeat_seconds",
    "heartbeat_seconds": "the claim protocol's timing, tuned with lease_seconds",
    "max_attempts": "retries of a job whose worker died: fixed for now",
    "worker_seen_seconds": "the worker registry's timing: fixed for now, like the lease's",
    "session_ttl_seconds": "dashboard sign-in length: fixed for now",
}


def _help(args: list[str]) -> str:
    # Wide enough that no option's row wraps, so each option is one line to read.
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "1000", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def _rows(help_text: str) -> dict[str, str]:
    """Each option's row of ``--help``, by its first flag."""
    return {line.split()[1]: line for line in help_text.splitlines() if line.startswith("│ --")}


def _command_options(args: list[str]) -> list[tuple[Any, SettingOption]]:
    """The click options of a command that come from a group, each with its declaration (found by
    environment variable; ``--grace`` of ``worker`` has none and is found by flag)."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command)
    for name in args:
        command = command.get_command(ctx, name)  # type: ignore[attr-defined]
    by_env = {option.envvar: option for option in ALL_OPTIONS if option.envvar}
    by_flag = {option.flag: option for option in ALL_OPTIONS if not option.envvar}
    found = []
    for param in command.params:
        if param.param_type_name == "option" and param.name not in ("help", "dry_run"):
            envvar = param.envvar if isinstance(param.envvar, str) else None
            found.append((param, by_env[envvar] if envvar else by_flag[param.opts[0]]))
    return found


def _expected_default(option: SettingOption) -> str | None:
    """The default ``--help`` should show, worked out here from ``Settings()`` independently of the CLI."""
    value = getattr(Settings(), option.field)
    if option.key is not None or value in (None, "", ()):
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value)


def test_every_option_sets_a_real_settings_field_and_engine_options_a_real_engine_option() -> None:
    from happyhorse.engines.ltx2.options import LTX2Options

    engine_keys = {field.name for field in dataclasses.fields(LTX2Options)}
    for option in ALL_OPTIONS:
        assert option.field in SETTINGS_FIELDS, option
        if option.key is not None:
            assert option.field == "engine_options" and option.key in engine_keys, option


def test_every_settings_field_has_an_option_or_a_reason_not_to() -> None:
    covered = {option.field for option in ALL_OPTIONS}
    assert SETTINGS_FIELDS - covered == set(NOT_OPTIONS)
    assert not covered & set(NOT_OPTIONS)


def test_help_comes_from_the_settings_docstrings_and_only_engine_options_write_their_own() -> None:
    for option in ALL_OPTIONS:
        if option.key is None:
            assert option.help is None and option.field in field_docs.field_docs(), option
            assert "``" not in option.help_text() and ":attr:" not in option.help_text(), option
        else:
            assert option.help, option


def test_flags_parameter_names_and_environment_variables_are_unique() -> None:
    for attribute in ("flag", "param", "envvar"):
        values = [getattr(option, attribute) for option in ALL_OPTIONS if getattr(option, attribute)]
        assert len(values) == len(set(values)), attribute
    assert all(option.envvar.startswith("HAPPYHORSE_") for option in ALL_OPTIONS if option.envvar)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_help_shows_the_settings_default_of_every_option(args: list[str]) -> None:
    rows = _rows(_help(args))
    options = _command_options(args)
    assert options
    for param, option in options:
        row = rows[param.opts[0]]
        expected = _expected_default(option)
        if expected is None:
            assert "[default:" not in row, row
        else:
            assert f"[default: {expected}" in row, (row, expected)
        if option.envvar:
            assert f"[env var: {option.envvar}]" in row, row


def test_a_changed_settings_default_shows_in_help_with_no_other_edit(monkeypatch) -> None:
    changed = Settings(rate_limit_per_second=7.5, max_body_bytes=3 * 1024 * 1024, port=9123)
    monkeypatch.setattr(field_docs, "_defaults", lambda: changed)
    probe = typer.Typer()

    @probe.command()
    @with_settings(LISTEN, LIMITS)
    def run(settings: Settings) -> None:
        """A probe."""

    result = CliRunner().invoke(probe, ["--help"], env={"COLUMNS": "1000", "NO_COLOR": "1"})
    rows = _rows(result.output)
    assert "[default: 7.5]" in rows["--rate-limit"]
    assert "[default: 3145728 (3 MiB)]" in rows["--max-body-bytes"]
    assert "[default: 9123]" in rows["--port"]


def _probe(*args: str, env: dict[str, str] | None = None) -> Settings:
    """The Settings that every group's options build from ``args``, through a command that only keeps them."""
    probe = typer.Typer()
    built: list[Settings] = []

    @probe.command()
    @with_settings(*GROUPS.values())
    def run(settings: Settings) -> None:
        built.append(settings)

    # None unsets a variable: what the test's own environment holds must not count.
    unset: dict[str, str | None] = {option.envvar: None for option in ALL_OPTIONS if option.envvar}
    result = CliRunner().invoke(probe, list(args), env={**unset, "HAPPYHORSE_SIGNING_SECRET": "s", **(env or {})})
    assert result.exit_code == 0, result.output
    return built[0]


def test_unset_options_leave_every_field_at_its_settings_default(tmp_path) -> None:
    settings = _probe("--data-dir", str(tmp_path))
    defaults = Settings(data_dir=tmp_path, signing_secret="s")
    for field in SETTINGS_FIELDS - {"allowed_hosts"}:
        assert getattr(settings, field) == getattr(defaults, field), field
    assert settings.allowed_hosts == ("127.0.0.1", "localhost", "[::1]")  # the command line always sets a list


def test_flags_and_environment_variables_become_settings_fields(tmp_path) -> None:
    settings = _probe(
        "--data-dir", str(tmp_path), "--port", "9000", "--rate-limit", "2.5", "--max-streams-per-key", "3",
        "--no-signup", "--signup-credit", "5", "--grace", "7", "--trusted-proxies", "10.0.0.0/8",
        "--weights", "w", "--vae-tiling", "--steps", "4", "--storage", "s3", "--s3-bucket", "b",
        env={"HAPPYHORSE_ALLOW_PRIVATE_FETCH": "1", "HAPPYHORSE_SWEEP_GRACE": "60", "HAPPYHORSE_COMPILE": "0"},
    )
    assert (settings.port, settings.rate_limit_per_second, settings.max_streams_per_key) == (9000, 2.5, 3)
    assert (settings.allow_signup, settings.signup_credit_usd, settings.shutdown_grace_seconds) == (False, 5, 7)
    assert settings.trusted_proxies == ("10.0.0.0/8",) and settings.allow_private_fetch is True
    assert settings.storage_sweep_grace_seconds == 60
    # Only the engine options asked for reach the engine; "0" for a switch is not asking.
    assert settings.engine_options == {"weights": Path("w"), "vae_tiling": True, "steps": 4}
    assert (settings.storage, settings.s3_bucket, settings.s3_prefix) == ("s3", "b", "")


@pytest.mark.parametrize(("args", "message"), [
    (["api", "--rate-limit", "-1"], "--rate-limit"),
    (["worker", "--max-running-jobs", "-1"], "--max-running-jobs"),
    (["serve", "--signup-credit", "2,50"], "no commas"),
    (["serve", "--trusted-proxies", "10.0.0.0/8,nope"], "--trusted-proxies"),
    (["worker", "--storage", "ftp"], "--storage must be local or s3"),
    (["storage", "sweep", "--s3-bucket", "b"], "--storage s3"),
    (["storage", "sweep", "--grace", "-5"], "--grace"),
])
def test_a_bad_option_exits_2_naming_it_before_anything_starts(args: list[str], message: str, tmp_path) -> None:
    data_dir = tmp_path / "data"
    result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split()), result.output
    assert not data_dir.exists()


def test_the_ltx2_options_reach_only_the_commands_that_run_an_engine() -> None:
    ltx2_flags = {option.flag for option in LTX2.options}
    for args in COMMANDS:
        flags = {param.opts[0] for param, _option in _command_options(args)}
        assert (ltx2_flags <= flags) == (args[0] in ("serve", "worker")), args


def test_two_options_of_one_name_or_for_one_field_are_refused_when_the_command_is_declared() -> None:
    with pytest.raises(TypeError, match="more than one option named port"):

        @with_settings(LISTEN, LISTEN.only("port"))
        def run(settings: Settings) -> None: ...

    with pytest.raises(TypeError, match="more than one option sets port"):

        @with_settings(LISTEN, LISTEN.only("port").renamed(port="--listen-port"))
        def run_too(settings: Settings) -> None: ...
