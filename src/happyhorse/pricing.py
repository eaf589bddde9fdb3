"""Prices per output second (SPEC §7). Money is Decimal, rendered as strings."""

from __future__ import annotations

from decimal import Decimal

CURRENCY = "USD"
PRICE_PER_SECOND: dict[str, Decimal] = {"720p": Decimal("0.14"), "1080p": Decimal("0.18")}


def job_cost(resolution: str, duration_seconds: int) -> Decimal:
    return (PRICE_PER_SECOND[resolution] * duration_seconds).quantize(Decimal("0.01"))


def usage_for(resolution: str, duration_seconds: int) -> dict[str, object]:
    """The ``usage`` object of a completed job."""
    return {
        "billed_seconds": duration_seconds,
        "unit_price_usd": str(PRICE_PER_SECOND[resolution]),
        "cost_usd": str(job_cost(resolution, duration_seconds)),
    }
