"""Claims the tenant signs about its offers, as W3C Verifiable Credentials 2.0.

Agents are swayed by unverifiable text; a claim they can check is worth more than a
banner. Each claim is signed with the tenant's claims key (``eddsa-jcs-2022``, see
``claims/``) whose Multikey document is public at ``Storefront.claims_key_url``, so an
agent can verify it offline, long after fetching it.

What a claim says comes from the catalog itself where the catalog knows it (a price,
a specification, availability): a tenant cannot sign a price it does not charge.
Certifications and rating aggregates are statements the business makes, signed as given.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select

from ..ids import new_prefixed_id
from ..signing_keys import SealedKeys
from ..store import Store, Transaction, catalog_claims
from ..timeutil import utc_now
from ._catalog import stored_json
from ._model import Product, Variant
from ._storefront import Storefront
from ._visibility import view
from .claims import multikey_document, sign

__all__ = ["CLAIMS_KEY_PURPOSE", "CLAIM_KINDS", "Claims", "iso"]

CLAIMS_KEY_PURPOSE = "catalog-claims"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
ClaimKind = Literal["price", "specification", "availability", "certification", "rating"]
CLAIM_KINDS: dict[str, str] = {
    "price": "The variant's price, honoured until validUntil.",
    "specification": "The product's attributes and the variant's options and barcodes.",
    "availability": "The variant's availability when the claim was signed.",
    "certification": "A certification the business states the variant holds (as given).",
    "rating": "A rating aggregate the business states (as given).",
}


def iso(moment: datetime) -> str:
    """XML Schema dateTime in UTC with seconds, as VC 2.0 examples write it."""
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Claims:
    def __init__(self, store: Store, keys: SealedKeys) -> None:
        self.store = store
        self.keys = keys

    async def key_document(self, front: Storefront) -> dict[str, Any]:
        public = (await self.keys.signer(front.tenant)).public_key()
        return multikey_document(public, id=front.claims_key_url, controller=front.base)

    async def credential(
        self, tx: Transaction, front: Storefront, type: str, id: str, subject: dict[str, Any], valid_for: timedelta
    ) -> dict[str, Any]:
        """A signed credential issued by ``front``'s store now, valid for ``valid_for``."""
        now = utc_now()
        document = {
            "@context": [VC_CONTEXT],
            "id": id,
            "type": ["VerifiableCredential", type],
            "issuer": {"id": front.base, "name": front.settings.seller.name},
            "validFrom": iso(now),
            "validUntil": iso(now + valid_for),
            "credentialSubject": subject,
        }
        key = await self.keys.signer(front.tenant, create=False)  # made with the tenant
        return sign(document, key, verification_method=front.claims_key_url, created=iso(now))

    async def issue(
        self,
        tx: Transaction,
        front: Storefront,
        product: Product,
        variant: Variant,
        kind: ClaimKind,
        valid_for: timedelta,
        statement: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        claim_id = new_prefixed_id("cl_")
        subject = {"id": front.variant_url(product.id, variant.id), "claim": kind, **_says(kind, product, variant, statement)}
        type = f"Product{kind.capitalize()}Claim"
        signed = await self.credential(tx, front, type, front.claim_url(claim_id), subject, valid_for)
        await tx.insert(
            catalog_claims,
            {
                "tenant_id": front.tenant,
                "id": claim_id,
                "variant_id": variant.id,
                "kind": kind,
                "credential": signed,
                "valid_until": signed["validUntil"],
                "created_at": signed["validFrom"],
            },
        )
        return signed

    async def get(self, tenant: str, claim_id: str) -> dict[str, Any] | None:
        row = await self.store.get(catalog_claims, {"tenant_id": tenant, "id": claim_id})
        return None if row is None else stored_json(row["credential"])

    async def current(self, tenant: str, variant_ids: list[str] | None = None) -> dict[str, list[str]]:
        """Ids of the claims still valid, by variant (all variants when None)."""
        query = select(catalog_claims.c.id, catalog_claims.c.variant_id).where(
            catalog_claims.c.tenant_id == tenant, catalog_claims.c.valid_until > iso(utc_now())
        )
        if variant_ids is not None:
            query = query.where(catalog_claims.c.variant_id.in_(variant_ids))
        out: dict[str, list[str]] = {}
        for row in await self.store.fetch_all(query.order_by(catalog_claims.c.id)):
            out.setdefault(row["variant_id"], []).append(row["id"])
        return out


def _says(kind: ClaimKind, product: Product, variant: Variant, statement: dict[str, Any] | None) -> dict[str, Any]:
    public = view(variant, "public")
    if kind == "price":
        return {"price": public["price"]}
    if kind == "availability":
        return {"availability": public["availability"]}
    if kind == "specification":
        keys = ("gtin", "mpn", "sku", "options", "weight_g")
        return {"name": variant.title, "attributes": product.attributes, **{k: public[k] for k in keys if k in public}}
    return {"name": variant.title, "statement": statement or {}}
