"""Tenant overrides of declared rates and quotas: the operator's say over the business's
defaults, per tenant and action (a tenant on a bigger plan, one under investigation).

Kept in the store and cached per tenant for ``refresh_s``, so a change made by the CLI in
another process takes hold within that time, and at once in the process that made it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, select

from ..store import Store, tenant_limits, tenant_transaction
from ..timeutil import utc_now_iso
from ._rate import Rate

__all__ = ["Override", "TenantLimits"]


@dataclass(frozen=True)
class Override:
    rate: Rate | None
    quota: Rate | None


class TenantLimits:
    def __init__(self, store: Store, *, refresh_s: float) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._cache: dict[str, tuple[float, dict[str, Override]]] = {}

    async def of(self, tenant: str) -> dict[str, Override]:
        """The tenant's overrides by action (cached for ``refresh_s``)."""
        cached = self._cache.get(tenant)
        if cached is not None and time.monotonic() - cached[0] < self.refresh_s:
            return cached[1]
        rows = await self.store.fetch_all(select(tenant_limits).where(tenant_limits.c.tenant_id == tenant))
        found = {
            r["action"]: Override(Rate.parse(r["rate"]) if r["rate"] else None, Rate.parse(r["quota"]) if r["quota"] else None)
            for r in rows
        }
        self._cache[tenant] = (time.monotonic(), found)
        return found

    async def set(self, tenant: str, action: str, rate: Rate | None, quota: Rate | None, by: str) -> None:
        """Override the action's rate and quota in this tenant (None: keep the declared one)."""
        row = {
            "tenant_id": tenant,
            "action": action,
            "rate": str(rate) if rate else None,
            "quota": str(quota) if quota else None,
            "updated_by": by,
            "updated_at": utc_now_iso(),
        }
        async with tenant_transaction(self.store, tenant) as tx:
            await tx.upsert(tenant_limits, row)
        self._cache.pop(tenant, None)

    async def clear(self, tenant: str, action: str) -> bool:
        """Back to the declared limits; whether there was an override."""
        async with tenant_transaction(self.store, tenant) as tx:
            result = await tx.execute(
                delete(tenant_limits).where(tenant_limits.c.tenant_id == tenant, tenant_limits.c.action == action)
            )
        self._cache.pop(tenant, None)
        return bool(result.rowcount)  # type: ignore[attr-defined]
