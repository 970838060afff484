"""Each tenant's log key: Ed25519, of its own purpose (``signing_keys``), apart from
the tenant's grant keys: a grant key's compromise must not let anyone sign checkpoints
(nor the other way round)."""

from __future__ import annotations

from ..signing_keys import SealedKeys, Sealer
from ..store import Store
from ._note import VerifierKey

__all__ = ["LOG_KEY_PURPOSE", "LogKeys", "Sealer"]

LOG_KEY_PURPOSE = "audit-log"


class LogKeys(SealedKeys):
    def __init__(self, store: Store, sealer: Sealer, origin_prefix: str) -> None:
        super().__init__(store, sealer, LOG_KEY_PURPOSE)
        self._prefix = origin_prefix.rstrip("/")

    def origin(self, tenant: str) -> str:
        """The log's name, in checkpoints and as its key's name."""
        return f"{self._prefix}/{tenant}"

    async def verifier(self, tenant: str) -> VerifierKey:
        public = (await self.signer(tenant)).public_key().public_bytes_raw()
        return VerifierKey(self.origin(tenant), public)
