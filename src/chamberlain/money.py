"""Money as agents should send it: integer minor units and an ISO 4217 code.

Floats lose cents and decimal strings invite locale bugs; minor units are what
payment APIs (Stripe, ACP) exchange, so an agent has one unambiguous form.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Money"]

# Currencies whose minor unit is not 1/100 (ISO 4217 exponent).
_EXPONENT = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}


class Money(BaseModel):
    """An amount of money, e.g. ``{"amount_minor": 1250, "currency": "EUR"}`` for 12.50 EUR."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount_minor: int = Field(ge=0, description="Amount in the currency's minor unit (cents for EUR).")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.")

    def __str__(self) -> str:
        exp = _EXPONENT.get(self.currency, 2)
        if exp == 0:
            return f"{self.amount_minor} {self.currency}"
        major, minor = divmod(self.amount_minor, 10**exp)
        return f"{major}.{minor:0{exp}d} {self.currency}"
