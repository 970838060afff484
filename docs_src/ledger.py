"""Actions that write to the business's own table in the call's transaction.

chamberlain serve ledger:surface
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update

from chamberlain import ActionError, Context, Money, Surface
from chamberlain.store import Store

surface = Surface("ledger", description="Store credit for customers.")

metadata = MetaData()
credits = Table(
    "ledger_credits",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("customer_id", String(32), primary_key=True),
    Column("balance_minor", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
)


@surface.on_startup
async def create_tables(store: Store) -> None:
    await store.create_all(metadata)


class Balance(BaseModel):
    customer_id: str
    balance: Money


@surface.action("credits.get", risk="read")
async def get_balance(customer_id: str, ctx: Context) -> Balance:
    """A customer's store credit."""
    row = (
        await ctx.tx.execute(select(credits).where(credits.c.tenant_id == ctx.tenant, credits.c.customer_id == customer_id))
    ).first()
    if row is None:
        raise ActionError(f"no credit account for {customer_id!r}", code="account-not-found")
    return Balance(customer_id=customer_id, balance=Money(amount_minor=row.balance_minor, currency=row.currency))


@surface.action("credits.grant", risk="money", version=1)
async def grant_credit(
    customer_id: str, amount: Money, reason: Annotated[str, Field(min_length=3, max_length=200)], ctx: Context
) -> Balance:
    """Add store credit to a customer's account (opens the account if needed)."""
    where = (credits.c.tenant_id == ctx.tenant) & (credits.c.customer_id == customer_id)
    row = (await ctx.tx.execute(select(credits).where(where))).first()
    if row is None:
        await ctx.tx.execute(
            insert(credits).values(
                tenant_id=ctx.tenant, customer_id=customer_id, balance_minor=amount.amount_minor, currency=amount.currency
            )
        )
    elif row.currency != amount.currency:
        raise ActionError(f"account is in {row.currency}", code="currency-mismatch")
    else:
        await ctx.tx.execute(update(credits).where(where).values(balance_minor=row.balance_minor + amount.amount_minor))
    balance = await get_balance(customer_id, ctx)
    if balance.balance.amount_minor > 1_000_00:
        # Raising after the write: the update above rolls back with the call.
        raise ActionError("store credit is capped at 1000.00", code="credit-cap", balance_minor=balance.balance.amount_minor)
    return balance
