"""The demo business: a small shop with customers, orders, refunds, accounts and a catalog.

It is an ordinary user of Chamberlain: plain typed async functions declared on a
Surface, storing their own tables in the gateway's database so that their writes
commit in the same transaction as the call record.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select, update

from chamberlain import ActionError, Context, Money, Original, Surface
from chamberlain.store import Store
from chamberlain.timeutil import utc_now_iso

shop = Surface("demo-shop", description="A demo shop: customers, orders, refunds, account settings and a product catalog.")
shop.event("order.refunded", "Money went back to a customer (subject: the order; data: the refund).")
shop.event("order.refund_reversed", "A refund was cancelled by a revert (subject: the order; data: the reversal).")
shop.event("account.settings_changed", "A customer's account settings changed (subject: the customer).")

meta = MetaData()
customers = Table(
    "demo_customers",
    meta,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("region", String(8), nullable=False),
)
orders = Table(
    "demo_orders",
    meta,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), nullable=False),
    Column("total_minor", Integer, nullable=False),
    Column("refunded_minor", Integer, nullable=False, default=0),
    Column("currency", String(3), nullable=False),
    Column("status", String(24), nullable=False),
)
refunds = Table(
    "demo_refunds",
    meta,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), nullable=False),
    Column("amount_minor", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)
refund_reversals = Table(
    "demo_refund_reversals",
    meta,
    Column("tenant_id", String(64), primary_key=True),
    Column("refund_id", String(32), primary_key=True),
    Column("reason", Text, nullable=True),
    Column("reversed_at", String(32), nullable=False),
)
account_settings = Table(
    "demo_account_settings",
    meta,
    Column("tenant_id", String(64), primary_key=True),
    Column("customer_id", String(32), primary_key=True),
    Column("language", String(8), nullable=False),
    Column("marketing_opt_in", Integer, nullable=False),
    Column("two_factor", Integer, nullable=False),
)
products = Table(
    "demo_products",
    meta,
    Column("tenant_id", String(64), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("price_minor", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("availability", String(16), nullable=False),
)


class Customer(BaseModel):
    id: str
    name: str
    email: str
    region: Literal["EU", "US", "APAC"]


class Order(BaseModel):
    id: str
    customer_id: str
    total: Money
    refunded: Money
    status: Literal["paid", "partially_refunded", "refunded"]


class OrderList(BaseModel):
    orders: list[Order]


class Refund(BaseModel):
    id: str
    order_id: str
    amount: Money
    reason: str
    order_status: str


class RefundReversal(BaseModel):
    refund_id: str
    order_id: str
    amount: Money
    order_status: str


class AccountSettings(BaseModel):
    customer_id: str
    language: Literal["en", "de", "fr", "es"]
    marketing_opt_in: bool
    two_factor: bool


class Product(BaseModel):
    id: str
    name: str
    price: Money
    availability: Literal["in_stock", "out_of_stock", "preorder"]


class Catalog(BaseModel):
    products: list[Product]


class CustomerExport(BaseModel):
    customers: list[Customer]
    count: int


def _order(row: object) -> Order:
    r = row._mapping  # type: ignore[attr-defined]
    return Order(
        id=r["id"],
        customer_id=r["customer_id"],
        total=Money(amount_minor=r["total_minor"], currency=r["currency"]),
        refunded=Money(amount_minor=r["refunded_minor"], currency=r["currency"]),
        status=r["status"],
    )


@shop.action("orders.get", risk="read", resource="shop://orders/{order_id}")
async def get_order(order_id: str, ctx: Context) -> Order:
    """Look up one order by id: total, amount refunded so far and status."""
    return await _load_order(order_id, ctx)


async def _load_order(order_id: str, ctx: Context, *, for_update: bool = False) -> Order:
    """``for_update`` locks the row until the call commits: a refund decides on what it read,
    and on PostgreSQL another refund of the same order must wait rather than read the
    same amount (SQLite's single writer waits anyway)."""
    query = select(orders).where(orders.c.tenant_id == ctx.tenant, orders.c.id == order_id)
    row = (await ctx.tx.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        raise ActionError(f"no order {order_id!r}", code="order-not-found")
    return _order(row)


@shop.action("orders.list", risk="read")
async def list_orders(ctx: Context, customer_id: str | None = None) -> OrderList:
    """List orders, optionally for one customer."""
    query = select(orders).where(orders.c.tenant_id == ctx.tenant).order_by(orders.c.id)
    if customer_id is not None:
        query = query.where(orders.c.customer_id == customer_id)
    return OrderList(orders=[_order(r) for r in await ctx.tx.execute(query)])


@shop.action("orders.refund", risk="money", rate="100/minute")
async def refund(
    order_id: str, amount: Money, reason: Annotated[str, Field(min_length=3, max_length=500)], ctx: Context
) -> Refund:
    """Refund part or all of a paid order to the customer's original payment method."""
    order = await _load_order(order_id, ctx, for_update=True)
    if amount.currency != order.total.currency:
        raise ActionError(f"order is in {order.total.currency}, not {amount.currency}", code="currency-mismatch")
    if amount.amount_minor == 0:
        raise ActionError("refund amount must be positive", code="amount-not-positive")
    refundable = order.total.amount_minor - order.refunded.amount_minor
    if amount.amount_minor > refundable:
        raise ActionError(
            f"at most {Money(amount_minor=refundable, currency=amount.currency)} can still be refunded",
            code="refund-exceeds-order",
            refundable_minor=refundable,
        )
    refunded = order.refunded.amount_minor + amount.amount_minor
    status = "refunded" if refunded == order.total.amount_minor else "partially_refunded"
    refund_id = "rf_" + secrets.token_hex(6)
    await ctx.tx.execute(
        update(orders)
        .where(orders.c.tenant_id == ctx.tenant, orders.c.id == order_id)
        .values(refunded_minor=refunded, status=status)
    )
    await ctx.tx.execute(
        insert(refunds).values(
            tenant_id=ctx.tenant,
            id=refund_id,
            order_id=order_id,
            amount_minor=amount.amount_minor,
            currency=amount.currency,
            reason=reason,
            created_at=utc_now_iso(),
        )
    )
    done = Refund(id=refund_id, order_id=order_id, amount=amount, reason=reason, order_status=status)
    await ctx.emit("order.refunded", done.model_dump(mode="json"), subject=f"orders/{order_id}")
    return done


@refund.undo(window="30d")
async def cancel_refund(original: Original, ctx: Context) -> RefundReversal:
    """Cancel a refund made by mistake: the order owes the customer that amount again
    (the payment provider is asked to void the refund)."""
    done = Refund.model_validate(original.result)
    order = await _load_order(done.order_id, ctx, for_update=True)
    refunded = order.refunded.amount_minor - done.amount.amount_minor
    status = "paid" if refunded == 0 else "partially_refunded"
    await ctx.tx.execute(
        update(orders)
        .where(orders.c.tenant_id == ctx.tenant, orders.c.id == done.order_id)
        .values(refunded_minor=refunded, status=status)
    )
    await ctx.tx.execute(
        insert(refund_reversals).values(
            tenant_id=ctx.tenant, refund_id=done.id, reason=original.reason, reversed_at=utc_now_iso()
        )
    )
    reversal = RefundReversal(refund_id=done.id, order_id=done.order_id, amount=done.amount, order_status=status)
    await ctx.emit("order.refund_reversed", reversal.model_dump(mode="json"), subject=f"orders/{done.order_id}")
    return reversal


@shop.action("customers.get", risk="read", resource="shop://customers/{customer_id}")
async def get_customer(customer_id: str, ctx: Context) -> Customer:
    """Look up one customer."""
    row = (
        await ctx.tx.execute(select(customers).where(customers.c.tenant_id == ctx.tenant, customers.c.id == customer_id))
    ).first()
    if row is None:
        raise ActionError(f"no customer {customer_id!r}", code="customer-not-found")
    return Customer(**{k: row._mapping[k] for k in ("id", "name", "email", "region")})


@shop.action("customers.export", risk="data_export")
async def export_customers(ctx: Context, region: Literal["EU", "US", "APAC"] | None = None) -> CustomerExport:
    """Export customer records (personal data), optionally for one region."""
    query = select(customers).where(customers.c.tenant_id == ctx.tenant).order_by(customers.c.id)
    if region is not None:
        query = query.where(customers.c.region == region)
    rows = [Customer(**{k: r._mapping[k] for k in ("id", "name", "email", "region")}) for r in await ctx.tx.execute(query)]
    return CustomerExport(customers=rows, count=len(rows))


@shop.action("accounts.update_email", risk="account")
async def update_email(
    customer_id: str, email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)], ctx: Context
) -> Customer:
    """Change the e-mail address on a customer's account."""
    await get_customer(customer_id, ctx)
    await ctx.tx.execute(
        update(customers).where(customers.c.tenant_id == ctx.tenant, customers.c.id == customer_id).values(email=email)
    )
    return await get_customer(customer_id, ctx)


async def _settings(customer_id: str, ctx: Context) -> AccountSettings:
    row = (
        await ctx.tx.execute(
            select(account_settings).where(
                account_settings.c.tenant_id == ctx.tenant, account_settings.c.customer_id == customer_id
            )
        )
    ).first()
    if row is None:
        raise ActionError(f"no account for customer {customer_id!r}", code="customer-not-found")
    r = row._mapping
    return AccountSettings(
        customer_id=customer_id,
        language=r["language"],
        marketing_opt_in=bool(r["marketing_opt_in"]),
        two_factor=bool(r["two_factor"]),
    )


@shop.action("accounts.get_settings", risk="read")
async def get_settings(customer_id: str, ctx: Context) -> AccountSettings:
    """A customer's account settings: language, marketing consent, two-factor sign-in."""
    return await _settings(customer_id, ctx)


@shop.action("accounts.update_settings", risk="account")
async def update_settings(
    customer_id: str,
    ctx: Context,
    language: Literal["en", "de", "fr", "es"] | None = None,
    marketing_opt_in: bool | None = None,
    two_factor: bool | None = None,
) -> AccountSettings:
    """Change account settings; only the fields given are changed."""
    current = await _settings(customer_id, ctx)
    changes = {
        k: v
        for k, v in {"language": language, "marketing_opt_in": marketing_opt_in, "two_factor": two_factor}.items()
        if v is not None
    }
    if not changes:
        raise ActionError("nothing to change: give language, marketing_opt_in or two_factor", code="no-changes")
    await ctx.tx.execute(
        update(account_settings)
        .where(account_settings.c.tenant_id == ctx.tenant, account_settings.c.customer_id == customer_id)
        .values(**changes)
    )
    await ctx.emit("account.settings_changed", {"changed": sorted(changes)}, subject=f"customers/{customer_id}")
    return current.model_copy(update=changes)


@shop.action("catalog.list_products", risk="read")
async def list_products(ctx: Context) -> Catalog:
    """The product catalog with public prices and availability."""
    query = select(products).where(products.c.tenant_id == ctx.tenant).order_by(products.c.id)
    return Catalog(
        products=[
            Product(
                id=r.id, name=r.name, price=Money(amount_minor=r.price_minor, currency=r.currency), availability=r.availability
            )
            for r in await ctx.tx.execute(query)
        ]
    )


@shop.on_startup
async def create_tables(store: Store) -> None:
    await store.create_all(meta)
