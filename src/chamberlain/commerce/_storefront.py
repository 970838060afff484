"""Where a tenant's published catalog lives, as URLs agents can follow.

Every public document (JSON-LD, feeds, claims, the claims key, discovery) is under
``<public_url>/stores/<tenant>/``: one stable prefix per store, so links in one
document always resolve to another, and nothing in them is an internal database id.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._model import CatalogSettings

__all__ = ["Storefront"]


@dataclass(frozen=True)
class Storefront:
    tenant: str
    public_url: str
    """The gateway's public base URL (``Settings.public_url``), without a trailing slash."""
    settings: CatalogSettings

    @property
    def base(self) -> str:
        return f"{self.public_url.rstrip('/')}/stores/{self.tenant}"

    def product_url(self, product_id: str) -> str:
        """The product's JSON-LD document."""
        return f"{self.base}/products/{product_id}"

    def variant_url(self, product_id: str, variant_id: str) -> str:
        return f"{self.product_url(product_id)}#{variant_id}"

    def claim_url(self, claim_id: str) -> str:
        return f"{self.base}/claims/{claim_id}"

    def claims_of_url(self, variant_id: str) -> str:
        """Every current claim about a variant (a JSON list of credential URLs)."""
        return f"{self.base}/claims?variant={variant_id}"

    def feed_url(self, format: str) -> str:
        return f"{self.base}/feeds/{format}"

    @property
    def claims_key_url(self) -> str:
        """The Multikey document that verifies the store's claims (a proof's ``verificationMethod``)."""
        return f"{self.base}/keys/claims"

    @property
    def search_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/v1/catalog/search"

    @property
    def quotes_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/v1/quotes"
