"""The tutorial's surface: one read action and one money action on an in-memory ledger.

Serve it with ``chamberlain serve myshop:surface`` from this folder.
"""

from __future__ import annotations

from pydantic import BaseModel

from chamberlain import ActionError, Context, Money, Surface

surface = Surface("my-shop", description="The quickstart shop.")

# Stands in for your system of record; see chamberlain.demo.shop for tables that
# commit in the same transaction as the call record.
BALANCES: dict[str, int] = {"o_1": 4_500}


class Order(BaseModel):
    id: str
    refundable: Money


class Refund(BaseModel):
    order_id: str
    amount: Money
    reason: str
    refunded_by: str


@surface.action("orders.get", risk="read")
async def get_order(order_id: str) -> Order:
    """Look up an order and how much of it can still be refunded."""
    if order_id not in BALANCES:
        raise ActionError(f"no order {order_id!r}", code="order-not-found")
    return Order(id=order_id, refundable=Money(amount_minor=BALANCES[order_id], currency="EUR"))


@surface.action("orders.refund", risk="money", version=1)
async def refund(order_id: str, amount: Money, reason: str, ctx: Context) -> Refund:
    """Refund part of an order to the customer's original payment method."""
    order = await get_order(order_id)
    if amount.currency != "EUR" or amount.amount_minor > order.refundable.amount_minor:
        raise ActionError(f"at most {order.refundable} can be refunded", code="refund-exceeds-order")
    BALANCES[order_id] -= amount.amount_minor
    return Refund(order_id=order_id, amount=amount, reason=reason, refunded_by=ctx.principal.id)
