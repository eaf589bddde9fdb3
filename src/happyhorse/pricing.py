"""Prices per output second (SPEC §7). Money is Decimal, rendered as strings.

Holds (:mod:`happyhorse.billing.holds`) keep the unit price and cost of the
moment a job was submitted, so a later price change never re-prices a job.
"""

from __future__ import annotations

from decimal import Decimal

CURRENCY = "USD"
PRICE_PER_SECOND: dict[str, Decimal] = {"720p": Decimal("0.14"), "1080p": Decimal("0.18")}


def job_cost(resolution: str, duration_seconds: int) -> Decimal:
    """The price of a job: duration × the resolution's price per second, rounded to the cent."""
    return (PRICE_PER_SECOND[resolution] * duration_seconds).quantize(Decimal("0.01"))

