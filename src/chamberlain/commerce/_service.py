"""The commerce parts one gateway holds, and the storefront of a tenant."""

from __future__ import annotations

from ..signing_keys import SealedKeys, Sealer
from ..store import Store, Transaction
from ._catalog import Catalog
from ._claims import CLAIMS_KEY_PURPOSE, Claims
from ._feeds import FEED_FORMATS
from ._quotes import Quotes
from ._storefront import Storefront
from ._visibility import view

__all__ = ["Commerce", "NoStorefront"]


class NoStorefront(LookupError):
    """The tenant has not published its seller and terms (``catalog.settings.put``) yet:
    without them nothing can be published, quoted or claimed."""


class Commerce:
    def __init__(self, store: Store, sealer: Sealer, public_url: str) -> None:
        self.store = store
        self.public_url = public_url.rstrip("/")
        self.catalog = Catalog(store)
        self.claims = Claims(store, SealedKeys(store, sealer, CLAIMS_KEY_PURPOSE))
        self.quotes = Quotes(self.catalog, self.claims)

    async def storefront(self, tenant: str, tx: Transaction | None = None) -> Storefront:
        settings = await self.catalog.settings(tenant, tx)
        if settings is None:
            raise NoStorefront(f"tenant {tenant!r} has not published a storefront (catalog.settings.put)")
        return Storefront(tenant, self.public_url, settings)

    async def claim_urls(self, front: Storefront, variants: list[str] | None = None) -> dict[str, list[str]]:
        """The URLs of each variant's current claims (every variant's when None)."""
        current = await self.claims.current(front.tenant, variants)
        return {variant: [front.claim_url(c) for c in ids] for variant, ids in current.items()}

    async def feed(self, front: Storefront, format: str) -> bytes:
        """The whole catalog in a feed format (``FEED_FORMATS``), from the public view:
        what the store serves at ``feeds/<format>`` and ``chamberlain catalog export`` writes."""
        views = [view(p, "public") for p in await self.catalog.products(front.tenant)]
        return b"".join(FEED_FORMATS[format].render(views, front, await self.claim_urls(front)))

    async def published(self, tenant: str) -> Storefront | None:
        try:
            return await self.storefront(tenant)
        except NoStorefront:
            return None
