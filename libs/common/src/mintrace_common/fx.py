"""Conversion of declared values to USD at the registry's rates (SPEC §6 `fx_rates`)."""

from decimal import Decimal

from .models import Money

USD = "USD"
Rates = dict[str, Decimal]


def to_usd(value: Money, rates: Rates) -> Decimal | None:
    """The value in USD, or None when the registry has no rate for its currency (USD needs
    none). Callers must make a None visible, never drop it."""
    currency = value.currency.upper()
    if currency == USD:
        return value.amount
    rate = rates.get(currency)
    return None if rate is None else value.amount * rate


async def load_rates(conn) -> Rates:
    return {r["currency"]: r["usd_per_unit"]
            for r in await conn.fetch("SELECT currency, usd_per_unit FROM fx_rates")}
