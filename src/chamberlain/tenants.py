"""Tenants: the unit of isolation. Creating one also creates its grant and claims keys."""

from __future__ import annotations

import re

from sqlalchemy import insert, select

from .commerce._claims import CLAIMS_KEY_PURPOSE
from .grants import KeyRing
from .signing_keys import SealedKeys
from .store import Store, tenants
from .timeutil import utc_now_iso

__all__ = ["TENANT_ID", "create_tenant", "list_tenants", "tenant_exists"]

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


async def create_tenant(store: Store, keys: KeyRing, tenant_id: str, name: str) -> None:
    """Create the tenant, its first grant key and its claims key in one transaction."""
    if not TENANT_ID.match(tenant_id):
        raise ValueError(f"tenant id {tenant_id!r} must be lower-case letters, digits and '-'")
    if await tenant_exists(store, tenant_id):
        raise ValueError(f"tenant {tenant_id!r} already exists")
    async with store.transaction() as tx:
        await tx.execute(insert(tenants).values(id=tenant_id, name=name, created_at=utc_now_iso()))
        await keys.create(tenant_id, tx)
        await SealedKeys(store, keys, CLAIMS_KEY_PURPOSE).create_in(tx, tenant_id)


async def tenant_exists(store: Store, tenant_id: str) -> bool:
    return await store.fetch_one(select(tenants.c.id).where(tenants.c.id == tenant_id)) is not None


async def list_tenants(store: Store) -> list[dict[str, str]]:
    return [dict(r) for r in await store.fetch_all(select(tenants).order_by(tenants.c.id))]
