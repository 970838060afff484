"""Per-tenant signing keys for grants, kept wrapped at rest.

Each tenant has its own Ed25519 root key, so a key leak or a bug in one tenant
cannot mint grants for another. The key id (``kid``) travels in the token as the
Biscuit root key id, which lets the gateway pick the right public key before it
verifies anything. Private keys are stored encrypted with the gateway's master
key (Fernet, from ``cryptography``); the master key never enters the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import biscuit_auth as biscuit
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import insert, select, update

from ..store import Store, tenant_keys
from ..timeutil import utc_now_iso

ALGORITHM = "ed25519"
# biscuit-python 0.4 wants the algorithm when loading raw keys; its stubs lag behind.
_ED25519 = biscuit.Algorithm.Ed25519  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TenantKey:
    kid: int
    tenant: str
    public_key: biscuit.PublicKey


def load_master_key(path: Path, env_value: str | None = None) -> bytes:
    """The master key from the environment, else from ``path`` (created 0600 on first use)."""
    if env_value:
        return env_value.encode()
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


class KeyRing:
    """Looks up tenant keys by kid (cached: keys are immutable once written)."""

    def __init__(self, store: Store, master_key: bytes) -> None:
        self._store = store
        self._fernet = Fernet(master_key)
        self._public: dict[int, TenantKey] = {}

    async def create(self, tenant: str, tx: object | None = None) -> TenantKey:
        pair = biscuit.KeyPair()
        row = {
            "tenant_id": tenant,
            "purpose": "grant",
            "algorithm": ALGORITHM,
            "public_key": pair.public_key.to_bytes(),
            "private_key_enc": self._fernet.encrypt(pair.private_key.to_bytes()),
            "created_at": utc_now_iso(),
        }
        if tx is None:
            async with self._store.transaction() as own:
                result = await own.execute(insert(tenant_keys).values(**row))
        else:
            result = await tx.execute(insert(tenant_keys).values(**row))  # type: ignore[attr-defined]
        kid = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        key = TenantKey(kid, tenant, pair.public_key)
        self._public[kid] = key
        return key

    def seal(self, secret: bytes) -> bytes:
        """Encrypt a secret the gateway must keep for a while (a parked call's grant)."""
        return self._fernet.encrypt(secret)

    def unseal(self, sealed: bytes) -> bytes:
        return self._fernet.decrypt(sealed)

    async def public(self, kid: int) -> TenantKey | None:
        key = self._public.get(kid)
        if key is None:
            # Only grant keys: a token naming another key of the tenant (its log key) is unknown.
            row = await self._store.fetch_one(
                select(tenant_keys).where(tenant_keys.c.kid == kid, tenant_keys.c.purpose == "grant")
            )
            if row is None:
                return None  # a retired key still verifies signatures; the revocation list refuses its grants
            public = biscuit.PublicKey.from_bytes(row["public_key"], _ED25519)  # type: ignore[call-arg]
            key = TenantKey(kid, row["tenant_id"], public)
            self._public[kid] = key
        return key

    async def owner(self, kid: int) -> str | None:
        row = await self._store.fetch_one(select(tenant_keys.c.tenant_id).where(tenant_keys.c.kid == kid))
        return None if row is None else str(row["tenant_id"])

    async def mark_retired(self, kid: int) -> None:
        """Stop signing with ``kid``; grants it signed are refused through the revocation list."""
        async with self._store.transaction() as tx:
            await tx.execute(
                update(tenant_keys)
                .where(tenant_keys.c.kid == kid, tenant_keys.c.retired_at.is_(None))
                .values(retired_at=utc_now_iso())
            )

    async def published(self, tenant: str) -> list[dict[str, object]]:
        """The tenant's public keys, for anyone who verifies or attenuates its grants offline."""
        rows = await self._store.fetch_all(
            select(tenant_keys).where(tenant_keys.c.tenant_id == tenant).order_by(tenant_keys.c.kid)
        )
        return [
            {
                "kid": row["kid"],
                "alg": row["algorithm"],
                "use": row["purpose"],
                "public_key": row["public_key"].hex(),
                "created_at": row["created_at"],
                "status": "retired" if row["retired_at"] else "active",
            }
            for row in rows
        ]

    async def signing(self, tenant: str) -> tuple[int, biscuit.PrivateKey]:
        row = await self._store.fetch_one(
            select(tenant_keys)
            .where(tenant_keys.c.tenant_id == tenant, tenant_keys.c.purpose == "grant", tenant_keys.c.retired_at.is_(None))
            .order_by(tenant_keys.c.kid.desc())
            .limit(1)
        )
        if row is None:
            raise LookupError(f"tenant {tenant!r} has no signing key")
        try:
            secret = self._fernet.decrypt(row["private_key_enc"])
        except InvalidToken as err:
            raise LookupError(
                "the master key does not open this tenant's signing key: check CHAMBERLAIN_MASTER_KEY or master.key"
            ) from err
        return int(row["kid"]), biscuit.PrivateKey.from_bytes(secret, _ED25519)  # type: ignore[call-arg]
