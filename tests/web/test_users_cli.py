"""``happyhorse users``: create (into a new or existing account, optionally as an operator), list, operator."""

from __future__ import annotations

from typer.testing import CliRunner

from happyhorse.cli import app
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.web.users import authenticate_user, get_user_by_email


def test_users_create_list_and_operator(tmp_path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    env = {"HAPPYHORSE_USER_PASSWORD": "a long enough password"}
    assert runner.invoke(app, ["accounts", "create", "studio", *data]).exit_code == 0
    made = runner.invoke(app, ["users", "create", "Ops@Example.com", "--operator", *data], env=env)
    assert made.exit_code == 0, made.output
    assert "ops@example.com (operator) in account ops@example.com" in made.output
    joined = runner.invoke(app, ["users", "create", "artist@example.com", "--account", "studio", *data], env=env)
    assert joined.exit_code == 0 and "in account studio" in joined.output
    taken = runner.invoke(app, ["users", "create", "artist@example.com", *data], env=env)
    assert taken.exit_code == 1 and "already exists" in taken.output
    short = runner.invoke(app, ["users", "create", "x@example.com", *data], env={"HAPPYHORSE_USER_PASSWORD": "short"})
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    listed = runner.invoke(app, ["users", "list", *data]).output.splitlines()
    assert listed == ["ops@example.com  ops@example.com  operator", "artist@example.com  studio  user"]
    assert runner.invoke(app, ["users", "operator", "artist@example.com", *data]).exit_code == 0
    assert runner.invoke(app, ["users", "operator", "ops@example.com", "--revoke", *data]).exit_code == 0
    runtime = Runtime.open(Settings(data_dir=tmp_path))
    try:
        assert get_user_by_email(runtime.db, "artist@example.com").is_operator
        assert not get_user_by_email(runtime.db, "ops@example.com").is_operator
        assert authenticate_user(runtime.db, "ARTIST@example.com", "a long enough password").account_name == "studio"
    finally:
        runtime.close()


def test_users_commands_normalise_and_validate_emails_as_sign_up_does(tmp_path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    env = {"HAPPYHORSE_USER_PASSWORD": "a long enough password"}
    made = runner.invoke(app, ["users", "create", "  Ｓtaff@Bücher.DE ", *data], env=env)
    assert made.exit_code == 0, made.output
    assert "staff@xn--bcher-kva.de in account staff@xn--bcher-kva.de" in made.output
    again = runner.invoke(app, ["users", "create", "STAFF@xn--bcher-kva.de", *data], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
    for email, said in (("ad\u202enimda@example.com", "U+202E"), ("staff@b\u0430nk.example", "mixes Cyrillic")):
        refused = runner.invoke(app, ["users", "create", email, *data], env=env)
        assert refused.exit_code == 1 and said in refused.output, refused.output
    assert runner.invoke(app, ["users", "operator", "staff@bücher.de", *data]).exit_code == 0
    assert runner.invoke(app, ["users", "list", *data]).output.splitlines() == [
        "staff@xn--bcher-kva.de  staff@xn--bcher-kva.de  operator"]
    runtime = Runtime.open(Settings(data_dir=tmp_path))
    try:
        assert authenticate_user(runtime.db, "Ｓtaff@bücher.de", "a long enough password").is_operator
    finally:
        runtime.close()
