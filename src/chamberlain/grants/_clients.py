"""OAuth clients: machine credentials exchanged for grants at the token endpoint.

A client is registered per tenant with the grant it may obtain (principal, actions,
constraints, lifetime). Its secret is shown once and stored as a scrypt hash
(``hashlib.scrypt``, memory-hard; compared in constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from ..store import Store, oauth_clients
from ..timeutil import utc_now_iso
from ._constraints import Constraint
from ._principal import Principal
from ._token import GrantAuthority, IssuedGrant, _rights_code

__all__ = ["ClientRegistry", "RegisteredClient"]

_N, _R, _P = 2**14, 8, 1


def _hash(secret: str, salt: bytes) -> str:
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def _matches(secret: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(candidate.hex(), digest)


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    secret: str
    tenant: str


class ClientRegistry:
    def __init__(self, store: Store, authority: GrantAuthority) -> None:
        self._store = store
        self._authority = authority

    async def register(
        self, tenant: str, principal: str, actions: list[str], ttl: timedelta, constraints: list[str] | None = None
    ) -> RegisteredClient:
        who = Principal.parse(principal)
        _rights_code(tuple(actions))  # refuses malformed patterns now, not at the first token request
        parsed = [str(Constraint.parse(c)) for c in constraints or []]
        if not actions or ttl <= timedelta(0):
            raise ValueError("a client needs at least one action and a positive lifetime")
        client_id, secret = "cl_" + secrets.token_hex(12), secrets.token_urlsafe(32)
        async with self._store.transaction() as tx:
            await tx.insert(
                oauth_clients,
                {
                    "client_id": client_id,
                    "tenant_id": tenant,
                    "principal": who.id,
                    "actions": actions,
                    "constraints": parsed,
                    "ttl_seconds": int(ttl.total_seconds()),
                    "secret_hash": _hash(secret, secrets.token_bytes(16)),
                    "created_at": utc_now_iso(),
                },
            )
        return RegisteredClient(client_id, secret, tenant)

    async def token(self, client_id: str, secret: str) -> IssuedGrant | None:
        """A fresh grant for valid credentials; None for unknown, disabled or wrong ones."""
        row = await self._store.fetch_one(select(oauth_clients).where(oauth_clients.c.client_id == client_id))
        if row is None or row["disabled_at"] is not None or not _matches(secret, row["secret_hash"]):
            return None
        return await self._authority.issue(
            row["tenant_id"],
            row["principal"],
            row["actions"],
            timedelta(seconds=row["ttl_seconds"]),
            on_behalf_of=f"service:{client_id}",
            constraints=row["constraints"],
        )
