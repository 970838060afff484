"""Tenant roles: who may do what beyond the grants they hold (approving, for now).

A role is held by a principal in one tenant; approving is a human duty, so it is
given by an operator (``chamberlain role add``), never through a grant an agent
could pass on.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from ..store import Store, tenant_roles, tenant_transaction
from ..timeutil import utc_now_iso

APPROVER = "approver"
ROLES = (APPROVER,)


class Roles:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, tenant: str, principal: str, role: str) -> bool:
        """True if the role was new."""
        _check(role)
        if await self.has(tenant, principal, role):
            return False
        async with tenant_transaction(self._store, tenant) as tx:
            await tx.execute(
                insert(tenant_roles).values(tenant_id=tenant, principal=principal, role=role, granted_at=utc_now_iso())
            )
        return True

    async def remove(self, tenant: str, principal: str, role: str) -> bool:
        _check(role)
        async with tenant_transaction(self._store, tenant) as tx:
            result = await tx.execute(
                delete(tenant_roles).where(
                    tenant_roles.c.tenant_id == tenant, tenant_roles.c.principal == principal, tenant_roles.c.role == role
                )
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def has(self, tenant: str, principal: str, role: str) -> bool:
        row = await self._store.fetch_one(
            select(tenant_roles.c.role).where(
                tenant_roles.c.tenant_id == tenant, tenant_roles.c.principal == principal, tenant_roles.c.role == role
            )
        )
        return row is not None

    async def holders(self, tenant: str) -> list[dict[str, str]]:
        rows = await self._store.fetch_all(
            select(tenant_roles).where(tenant_roles.c.tenant_id == tenant).order_by(tenant_roles.c.role, tenant_roles.c.principal)
        )
        return [{"principal": r["principal"], "role": r["role"], "granted_at": r["granted_at"]} for r in rows]


def _check(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
