"""Amounts of money: ``Decimal`` USD, parsed, summed in SQL and rendered as strings.

Columns are ``NUMERIC(18, 6)`` on both databases. PostgreSQL keeps them exact;
SQLite stores them as REAL, which round-trips any amount below about $9·10⁹ at
six decimals, but a float ``SUM`` would drift. So every sum is taken in whole
micro-dollars (:func:`sum_micros`), exact on both, and turned back into a
``Decimal`` in Python (:func:`from_micros`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, func

MICRO = Decimal("0.000001")
CENT = Decimal("0.01")
# The largest amount one grant may add: far below NUMERIC(18, 6)'s 10¹² and
# SQLite's exact range, with room for many grants.
MAX_GRANT = Decimal("1000000")
# Digits, then at most one "." and its decimals (too many decimals get their own message).
_USD = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+", re.ASCII)


def sum_micros(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``COALESCE(SUM(ROUND(column × 10⁶)), 0)`` as an exact integer on both databases."""
    return func.coalesce(func.sum(cast(func.round(column * 1_000_000), BigInteger)), 0)


def from_micros(value: Any) -> Decimal:
    """A sum from :func:`sum_micros` (int on SQLite, Decimal on PostgreSQL) as dollars."""
    return (Decimal(int(value)) * MICRO).quantize(MICRO)


def to_decimal(value: Any) -> Decimal:
    """A stored amount (Decimal, or a float/int from a raw SQLite cursor) as an exact Decimal."""
    if isinstance(value, Decimal):
        return value.quantize(MICRO)
    # str() of a float is its shortest round-trip form: 0.7 -> "0.7", never 0.69999...
    return Decimal(str(value)).quantize(MICRO)


def format_usd(amount: Decimal) -> str:
    """``Decimal`` → the wire string: cents always shown (``"0.70"``, ``"-1.00"``),
    more places only when the amount has them (``"0.000125"``)."""
    amount = amount.quantize(MICRO)
    if not amount:
        amount = abs(amount)  # no "-0.00"
    cents = amount.quantize(CENT)
    if cents == amount:
        return f"{cents:f}"
    return f"{amount.normalize():f}"


def parse_usd(text: str, *, param: str = "amount") -> Decimal:
    """An operator-typed amount such as ``10``, ``2.50`` or ``$0.000125`` as a positive Decimal.

    Only ASCII digits with at most one ``.`` and six decimals (what the ledger
    keeps), after an optional ``$``: ``"2,50"`` could mean $2.50 or $250, so
    commas, underscores, inner spaces, exponents, other digits and NaN/Infinity
    are refused. Raises ValueError with a message that says what to type instead."""
    cleaned = text.strip().removeprefix("$")
    if cleaned.startswith("-") and _USD.fullmatch(cleaned[1:]):
        raise ValueError(f"{param} must be more than 0, got {text!r}")
    if not _USD.fullmatch(cleaned):
        raise ValueError(
            f"{param} must be a number of US dollars written with digits and at most one '.', such as 10 or 2.50 "
            f"(no commas, spaces, underscores or exponents), not {text!r}"
        )
    amount = Decimal(cleaned)
    if amount <= 0:
        raise ValueError(f"{param} must be more than 0, got {text!r}")
    if amount != amount.quantize(MICRO):
        raise ValueError(f"{param} has more than 6 decimal places: {text!r}")
    if amount > MAX_GRANT:
        raise ValueError(f"{param} must be at most {format_usd(MAX_GRANT)} per grant, got {text!r}")
    return amount.quantize(MICRO)
