"""Tenants: the unit of isolation. Creating one also creates its grant key."""

from __future__ import annotations

import re

from sqlalchemy import insert, select

from .grants import KeyRing
from .store import Store, tenants
from .timeutil import utc_now_iso

__all__ = ["TENANT_ID", "create_tenant", "list_tenants", "tenant_exists"]

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


async def create_tenant(store: Store, keys: KeyRing, tenant_id: str, name: str) -> None:
    """Create the tenant and its first signing key in one transaction."""
    if not TENANT_ID.match(tenant_id):
        raise ValueError(f"tenant id {tenant_id!r} must be lower-case letters, digits and '-'")
    if await tenant_exists(store, tenant_id):
        raise ValueError(f"tenant {tenant_id!r} already exists")
    async with store.transaction() as tx:
        await tx.execute(insert(tenants).values(id=tenant_id, name=name, created_at=utc_now_iso()))
        await keys.create(tenant_id, tx)


async def tenant_exists(store: Store, tenant_id: str) -> bool:
    return await store.fetch_one(select(tenants.c.id).where(tenants.c.id == tenant_id)) is not None


async def list_tenants(store: Store) -> list[dict[str, str]]:
    return [dict(r) for r in await store.fetch_all(select(tenants).order_by(tenants.c.id))]
