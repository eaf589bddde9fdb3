"""Operator-typed amounts (issue 10, finding 11): ``"2,50"`` once became $250.00. Only digits with at most
one ``.`` and six decimals, after an optional ``$``, are read; anything ambiguous is refused with what to type,
by ``parse_usd`` and by each of its users: ``credits add``, ``--signup-credit`` and the dashboard's grant
(tests/web/test_hostile_bodies.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from happyhorse.billing.money import parse_usd
from happyhorse.cli import app
from happyhorse.cli.options import signup_credit

AMBIGUOUS = ["2,50", "1,000", "1,000.00", "1_000", "1 000", "2.5.0", "1e3", "1E-2", "٢٥", "２", "NaN", "Infinity",
             "inf", "0x10", "+5", "5$", "$ 5", "", "$", ".", "5.", "2,5e1"]


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_ambiguous_amounts_are_refused_with_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match=r"digits and at most one '\.'.*such as 10 or 2\.50"):
        parse_usd(text, param="amount_usd")


@pytest.mark.parametrize(("text", "amount"), [
    ("10", "10"), ("2.50", "2.50"), ("$2.50", "2.50"), (" 7 ", "7"), ("0.000125", "0.000125"), (".5", "0.5"),
    ("$1000000", "1000000"), ("007", "7"),
])
def test_plain_amounts_are_read_exactly(text: str, amount: str) -> None:
    assert parse_usd(text) == Decimal(amount)


@pytest.mark.parametrize(("text", "message"), [
    ("0", "more than 0"), ("-5", "more than 0"), ("$-5", "more than 0"), ("0.0000001", "more than 6 decimal places"),
    ("1000000.01", "at most 1000000.00"),
])
def test_out_of_range_amounts_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_usd(text)


def test_credits_add_refuses_a_comma_and_grants_nothing(tmp_path: Path) -> None:
    env = {"NO_COLOR": "1", "COLUMNS": "200", "HAPPYHORSE_SIGNING_SECRET": "s"}
    common = ["--data-dir", str(tmp_path)]
    runner = CliRunner()
    assert runner.invoke(app, ["accounts", "create", "acme", *common], env=env).exit_code == 0
    refused = runner.invoke(app, ["credits", "add", "acme", "2,50", *common], env=env)
    assert refused.exit_code == 1 and "no commas" in refused.output, refused.output
    ledger = runner.invoke(app, ["credits", "ledger", "acme", *common], env=env)
    assert "balance 0.00 USD" in ledger.output, ledger.output
    assert runner.invoke(app, ["credits", "add", "acme", "2.50", *common], env=env).output.strip().endswith(
        "balance 2.50 USD")


def test_signup_credit_refuses_a_comma() -> None:
    with pytest.raises(typer.BadParameter, match="no commas"):
        signup_credit("2,50")
    assert signup_credit("0") == Decimal(0) and signup_credit("$5") == Decimal(5)

