"""Each tenant's log key: Ed25519, kept wrapped by the gateway's master key.

It is a key of its own, apart from the tenant's grant keys: whoever can verify the
log needs its public half, and a grant key's compromise must not let anyone sign
checkpoints (nor the other way round). Created on first use, so tenants made before
the audit log existed get one too.
"""

from __future__ import annotations

from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select

from ..store import Store, tenant_keys
from ..timeutil import utc_now_iso
from ._note import VerifierKey

__all__ = ["LOG_KEY_PURPOSE", "LogKeys", "Sealer"]

LOG_KEY_PURPOSE = "audit-log"


class Sealer(Protocol):
    def seal(self, secret: bytes) -> bytes: ...

    def unseal(self, sealed: bytes) -> bytes: ...


class LogKeys:
    def __init__(self, store: Store, sealer: Sealer, origin_prefix: str) -> None:
        self._store = store
        self._sealer = sealer
        self._prefix = origin_prefix.rstrip("/")
        self._signers: dict[str, Ed25519PrivateKey] = {}

    def origin(self, tenant: str) -> str:
        """The log's name, in checkpoints and as its key's name."""
        return f"{self._prefix}/{tenant}"

    async def signer(self, tenant: str) -> Ed25519PrivateKey:
        key = self._signers.get(tenant)
        if key is None:
            row = await self._row(tenant)
            if row is None:
                await self._create(tenant)
                row = await self._row(tenant)
                assert row is not None
            key = Ed25519PrivateKey.from_private_bytes(self._sealer.unseal(row["private_key_enc"]))
            self._signers[tenant] = key
        return key

    async def verifier(self, tenant: str) -> VerifierKey:
        public = (await self.signer(tenant)).public_key().public_bytes_raw()
        return VerifierKey(self.origin(tenant), public)

    async def _row(self, tenant: str) -> dict[str, Any] | None:
        row = await self._store.fetch_one(
            select(tenant_keys)
            .where(tenant_keys.c.tenant_id == tenant, tenant_keys.c.purpose == LOG_KEY_PURPOSE)
            .order_by(tenant_keys.c.kid)
            .limit(1)
        )
        return None if row is None else dict(row)

    async def _create(self, tenant: str) -> None:
        key = Ed25519PrivateKey.generate()
        async with self._store.transaction() as tx:
            # Two processes may race to create it; the oldest row wins in ``_row``.
            await tx.execute(
                insert(tenant_keys).values(
                    tenant_id=tenant,
                    purpose=LOG_KEY_PURPOSE,
                    algorithm="ed25519",
                    public_key=key.public_key().public_bytes_raw(),
                    private_key_enc=self._sealer.seal(key.private_bytes_raw()),
                    created_at=utc_now_iso(),
                )
            )
