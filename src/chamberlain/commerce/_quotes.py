"""Landed-cost quotes an agent can compare and hold the seller to, and the checkout
that honours them.

A quote is read-only for the catalog: it prices items for a destination (items,
shipping, tax, total) and is returned as a signed credential, valid until it expires.
Until then, ``cart.create`` and ``checkout.complete`` charge exactly the quoted total,
even if the catalog's prices changed meanwhile: the offer an agent compared is the
offer it gets.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ..ids import new_prefixed_id
from ..money import Money
from ..store import Transaction, carts, quotes
from ..timeutil import utc_now
from ._catalog import Catalog, stored_json
from ._claims import Claims, iso
from ._model import Country
from ._storefront import Storefront

__all__ = ["QuoteError", "QuoteItem", "Quotes"]


class QuoteError(ValueError):
    """A quote or checkout that cannot be made; ``code`` is the machine-readable reason."""

    def __init__(self, message: str, code: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extra = extra


class QuoteItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variant_id: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=100)] = 1


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


class Quotes:
    def __init__(self, catalog: Catalog, claims: Claims) -> None:
        self.catalog = catalog
        self.claims = claims

    async def quote(
        self, tx: Transaction, front: Storefront, items: list[QuoteItem], ships_to: Country, principal: str
    ) -> dict[str, Any]:
        """Price ``items`` delivered to ``ships_to``; store and sign the quote."""
        lines = [await self._line(front.tenant, item, tx) for item in items]
        currency = lines[0]["unit_price"]["currency"]
        if any(line["unit_price"]["currency"] != currency for line in lines):
            raise QuoteError("items are priced in different currencies: quote them separately", "currency-mismatch")
        settings = front.settings
        rate = settings.shipping_to(ships_to)
        if rate is None:
            raise QuoteError(f"{settings.seller.name} does not ship to {ships_to}", "does-not-ship-there", ships_to=ships_to)
        if rate.price.currency != currency:
            raise QuoteError("shipping is priced in another currency than the items", "currency-mismatch")
        subtotal = sum(line["line_total"]["amount_minor"] for line in lines)
        free = rate.free_over is not None and rate.free_over.currency == currency and subtotal >= rate.free_over.amount_minor
        shipping = 0 if free else rate.price.amount_minor
        rate_bp = settings.tax_bp(ships_to)
        if settings.prices_include_tax:
            tax = (subtotal + shipping) - _half_up((subtotal + shipping) * 10_000, 10_000 + rate_bp)
            total = subtotal + shipping
        else:
            tax = _half_up((subtotal + shipping) * rate_bp, 10_000)
            total = subtotal + shipping + tax
        now = utc_now()
        ttl = timedelta(seconds=settings.quote_ttl_s)
        quote_id = new_prefixed_id("q_")
        document = {
            "quote_id": quote_id,
            "seller": settings.seller.name,
            "ships_to": ships_to,
            "items": lines,
            "subtotal": _money(subtotal, currency),
            "shipping": {**_money(shipping, currency), "min_days": rate.min_days, "max_days": rate.max_days},
            "tax": {**_money(tax, currency), "rate_bp": rate_bp, "included_in_prices": settings.prices_include_tax},
            "total": _money(total, currency),
            "expires_at": iso(now + ttl),
        }
        url = f"{front.base}/quotes/{quote_id}"
        signed = await self.claims.credential(tx, front, "QuoteCredential", url, {"id": url, **document}, ttl)
        await tx.insert(
            quotes,
            {
                "tenant_id": front.tenant,
                "id": quote_id,
                "principal": principal,
                "document": document,
                "credential": signed,
                "total_minor": total,
                "currency": currency,
                "expires_at": document["expires_at"],
                "created_at": iso(now),
            },
        )
        return signed

    async def _line(self, tenant: str, item: QuoteItem, tx: Transaction) -> dict[str, Any]:
        found = await self.catalog.variant(tenant, item.variant_id, tx)
        if found is None:
            raise QuoteError(f"no offer {item.variant_id!r}", "offer-not-found", variant_id=item.variant_id)
        product, variant = found
        if variant.availability == "out_of_stock":
            raise QuoteError(f"{variant.title} is out of stock", "out-of-stock", variant_id=variant.id)
        price = variant.price
        return {
            "product_id": product.id,
            "variant_id": variant.id,
            "title": variant.title,
            "quantity": item.quantity,
            "availability": variant.availability,
            "unit_price": _money(price.amount_minor, price.currency),
            "line_total": _money(price.amount_minor * item.quantity, price.currency),
        }

    async def open_cart(self, tx: Transaction, tenant: str, quote_id: str, principal: str) -> dict[str, Any]:
        quote = await self._live_quote(tx, tenant, quote_id)
        cart = {
            "tenant_id": tenant,
            "id": new_prefixed_id("cart_"),
            "principal": principal,
            "quote_id": quote_id,
            "status": "open",
            "total_minor": quote["total_minor"],
            "currency": quote["currency"],
            "created_at": iso(utc_now()),
        }
        await tx.insert(carts, cart)
        return {**_public_cart(cart), "quote": stored_json(quote["document"])}

    async def complete(self, tx: Transaction, tenant: str, cart_id: str, amount: Money) -> dict[str, Any]:
        """Place the order for exactly the quoted total. ``amount`` is what the agent agreed
        to pay (what a grant's ``amount <=`` constraint and the approval rules judge)."""
        cart = await tx.get(carts, {"tenant_id": tenant, "id": cart_id})
        if cart is None:
            raise QuoteError(f"no cart {cart_id!r}", "cart-not-found")
        if cart["status"] != "open":
            raise QuoteError(f"cart {cart_id} is already {cart['status']}", "cart-not-open", order_id=cart["order_id"])
        await self._live_quote(tx, tenant, cart["quote_id"])
        due = Money(amount_minor=cart["total_minor"], currency=cart["currency"])
        if amount != due:
            raise QuoteError(f"the quoted total is {due}, not {amount}", "amount-mismatch", due=due.model_dump())
        order_id = new_prefixed_id("ord_")
        done = {**cart, "status": "completed", "order_id": order_id, "completed_at": iso(utc_now())}
        await tx.upsert(carts, done)
        return _public_cart(done)

    async def _live_quote(self, tx: Transaction, tenant: str, quote_id: str) -> dict[str, Any]:
        quote = await tx.get(quotes, {"tenant_id": tenant, "id": quote_id})
        if quote is None:
            raise QuoteError(f"no quote {quote_id!r}", "quote-not-found")
        if quote["expires_at"] <= iso(utc_now()):
            raise QuoteError(f"quote {quote_id} expired at {quote['expires_at']}: ask for a new one", "quote-expired")
        return quote


def _money(amount_minor: int, currency: str) -> dict[str, Any]:
    return Money(amount_minor=amount_minor, currency=currency).model_dump()


def _public_cart(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "cart_id": row["id"],
        "quote_id": row["quote_id"],
        "status": row["status"],
        "total": _money(row["total_minor"], row["currency"]),
        "order_id": row.get("order_id"),
    }
