"""Prices per output second (SPEC §7): what a job costs. Money is Decimal, rendered as strings.

The price table is one of the model's rules (:data:`happyhorse.rules.RULES`,
published by ``GET /v1/models``). Holds (:mod:`happyhorse.billing.holds`) keep
the unit price and cost of the moment a job was submitted, so a later price
change never re-prices a job.
"""

from __future__ import annotations

from decimal import Decimal

from happyhorse.rules import RULES


def unit_price(resolution: str) -> Decimal:
    """Today's price of one second of ``resolution`` output."""
    return RULES.price_per_second[resolution]


def job_cost(resolution: str, duration_seconds: int) -> Decimal:
    """The price of a job: duration × the resolution's price per second, rounded to the cent."""
    return (unit_price(resolution) * duration_seconds).quantize(Decimal("0.01"))
