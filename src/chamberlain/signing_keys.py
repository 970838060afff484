"""A tenant's Ed25519 key for one purpose, kept wrapped by the gateway's master key.

Each purpose has a key of its own (the audit log's checkpoints, the catalog's signed
claims): whoever verifies one needs its public half, and one key's compromise must
not let anyone sign for another purpose. Created on first use, so tenants made before
a purpose existed get one too.
"""

from __future__ import annotations

from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select

from .store import Store, Transaction, tenant_keys, tenants
from .timeutil import utc_now_iso

__all__ = ["SealedKeys", "Sealer"]


class Sealer(Protocol):
    def seal(self, secret: bytes) -> bytes: ...

    def unseal(self, sealed: bytes) -> bytes: ...


class SealedKeys:
    def __init__(self, store: Store, sealer: Sealer, purpose: str) -> None:
        self._store = store
        self._sealer = sealer
        self.purpose = purpose
        self._signers: dict[str, Ed25519PrivateKey] = {}

    async def signer(self, tenant: str, *, create: bool = True) -> Ed25519PrivateKey:
        """The tenant's key, created now (in a transaction of its own) if it has none and
        ``create``. Inside a call's unit of work pass ``create=False``: a second
        transaction would wait for that unit's write lock on SQLite. Keys such callers
        need are made with the tenant (``create_in``) and by ``ensure`` at start."""
        key = self._signers.get(tenant)
        if key is not None:
            return key
        row = await self._row(tenant)
        if row is None:
            if not create:
                raise LookupError(f"tenant {tenant!r} has no {self.purpose} key yet: it is made at the gateway's start")
            async with self._store.transaction() as own:
                await self.create_in(own, tenant)
            row = await self._row(tenant)  # two processes may race: the oldest row wins
            assert row is not None
        key = Ed25519PrivateKey.from_private_bytes(self._sealer.unseal(row["private_key_enc"]))
        return self._signers.setdefault(tenant, key)

    async def create_in(self, tx: Transaction, tenant: str) -> None:
        """Add a key for ``tenant`` in ``tx`` (with the tenant's own row, say)."""
        key = Ed25519PrivateKey.generate()
        await tx.execute(
            insert(tenant_keys).values(
                tenant_id=tenant,
                purpose=self.purpose,
                algorithm="ed25519",
                public_key=key.public_key().public_bytes_raw(),
                private_key_enc=self._sealer.seal(key.private_bytes_raw()),
                created_at=utc_now_iso(),
            )
        )

    async def ensure(self) -> int:
        """Give every tenant without a key of this purpose one; how many were made.
        Run at start, so tenants made before the purpose existed have one too."""
        have = select(tenant_keys.c.tenant_id).where(tenant_keys.c.purpose == self.purpose)
        missing = await self._store.fetch_all(select(tenants.c.id).where(tenants.c.id.not_in(have)))
        for row in missing:
            await self.signer(str(row["id"]))
        return len(missing)

    async def _row(self, tenant: str) -> dict[str, Any] | None:
        row = await self._store.fetch_one(
            select(tenant_keys)
            .where(tenant_keys.c.tenant_id == tenant, tenant_keys.c.purpose == self.purpose)
            .order_by(tenant_keys.c.kid)
            .limit(1)
        )
        return None if row is None else dict(row)
