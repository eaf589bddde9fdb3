"""``Usage``: what a job is billed (SPEC §5), from its hold."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from happyhorse.billing.money import format_usd, to_decimal
from happyhorse.billing.pricing import job_cost, unit_price


@dataclass(frozen=True, slots=True)
class Usage:
    """Billed seconds, the unit price and the cost of one job."""

    billed_seconds: int
    unit_price: Decimal
    cost: Decimal

    @classmethod
    def quote(cls, resolution: str, duration: int) -> Usage:
        """The price of a job from today's price table."""
        return cls(duration, unit_price(resolution), job_cost(resolution, duration))

    @classmethod
    def from_columns(cls, billed_seconds: object, unit_price: object, amount: object) -> Usage:
        """From hold columns as any driver returns them (raw SQLite gives floats)."""
        return cls(int(billed_seconds), to_decimal(unit_price), to_decimal(amount))  # type: ignore[call-overload]

    def to_dict(self) -> dict[str, object]:
        """The wire object: ``{"billed_seconds": 5, "unit_price_usd": "0.14", "cost_usd": "0.70"}``."""
        return {
            "billed_seconds": self.billed_seconds,
            "unit_price_usd": format_usd(self.unit_price),
            "cost_usd": format_usd(self.cost),
        }
