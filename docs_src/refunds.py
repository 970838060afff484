"""The README's "declare your own actions" example, runnable as it stands.

chamberlain serve refunds:surface        # from this folder
"""

from __future__ import annotations

from pydantic import BaseModel

from chamberlain import ActionError, Context, Money, Surface

surface = Surface("my-shop", description="Refunds for my shop.")


class Refund(BaseModel):
    order_id: str
    amount: Money
    approved_by: str


@surface.action("orders.refund", risk="money", version=1)
async def refund(order_id: str, amount: Money, reason: str, ctx: Context) -> Refund:
    """Refund part or all of a paid order."""
    if amount.amount_minor > 50_00:
        raise ActionError("refunds above 50.00 need a human", code="refund-too-large", limit_minor=50_00)
    # ... call your payment provider, or write with `await ctx.tx.execute(...)` ...
    return Refund(order_id=order_id, amount=amount, approved_by=ctx.principal.id)
