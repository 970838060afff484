"""Two demo tenants with customers, orders and products, and a grant for each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert

from ..app import Runtime
from ..grants import IssuedGrant
from ..store import tenant_transaction
from ..tenants import create_tenant, tenant_exists
from . import catalog as demo_catalog
from .shop import account_settings, customers, orders, products

TENANTS = {
    "acme-shop": ("Acme Shop", "EUR", "EU"),
    "globex-store": ("Globex Store", "USD", "US"),
}
AGENT_ACTIONS = ["orders.*", "customers.*", "accounts.*", "catalog.*", "events.*", "claims.*", "quotes.*", "cart.*", "checkout.*"]
APPROVER = "human:rita"
"""A supervisor who may approve parked calls in both demo tenants."""


@dataclass(frozen=True)
class DemoTenant:
    id: str
    name: str
    grant: IssuedGrant


async def seed(runtime: Runtime, ttl: timedelta = timedelta(hours=24)) -> list[DemoTenant]:
    """Create (once) and return both tenants, each with a fresh support-agent grant."""
    out = []
    for tenant, (name, currency, region) in TENANTS.items():
        if not await tenant_exists(runtime.store, tenant):
            await create_tenant(runtime.store, runtime.keys, tenant, name)
            await _fill(runtime, tenant, currency, region)
            await runtime.roles.add(tenant, APPROVER, "approver")
        grant = await runtime.authority.issue(tenant, "agent:support-bot", AGENT_ACTIONS, ttl, on_behalf_of="user:ops-lead")
        out.append(DemoTenant(tenant, name, grant))
    return out


async def _fill(runtime: Runtime, tenant: str, currency: str, region: str) -> None:
    people = [("c_1", "Ada Lovelace"), ("c_2", "Grace Hopper"), ("c_3", "Alan Turing")]
    async with tenant_transaction(runtime.store, tenant) as tx:
        for cid, name in people:
            email = name.lower().replace(" ", ".") + f"@{tenant}.example"
            await tx.execute(insert(customers).values(tenant_id=tenant, id=cid, name=name, email=email, region=region))
            await tx.execute(
                insert(account_settings).values(
                    tenant_id=tenant,
                    customer_id=cid,
                    language="en",
                    marketing_opt_in=0,
                    two_factor=1,
                )
            )
        for i, (cid, _) in enumerate(people * 2, start=1):
            await tx.execute(
                insert(orders).values(
                    tenant_id=tenant,
                    id=f"o_{1000 + i}",
                    customer_id=cid,
                    total_minor=2500 * i,
                    refunded_minor=0,
                    currency=currency,
                    status="paid",
                )
            )
        catalog = [
            ("p_kettle", "Kettle", 3999, "in_stock"),
            ("p_teapot", "Teapot", 2450, "in_stock"),
            ("p_mugs", "Mug set", 1800, "preorder"),
        ]
        for pid, pname, price, availability in catalog:
            await tx.execute(
                insert(products).values(
                    tenant_id=tenant,
                    id=pid,
                    name=pname,
                    price_minor=price,
                    currency=currency,
                    availability=availability,
                )
            )
        commerce = runtime.commerce.catalog
        await commerce.put_settings(tx, tenant, demo_catalog.settings(tenant), "seed")
        for product in demo_catalog.products(tenant, currency):
            await commerce.put(tx, tenant, product, "seed")
