"""The tenant's catalog in the database: products as whole documents, variants as rows.

A product is written whole (``put``): its document holds every field, internal ones
included, and each variant gets a row of its own with what search filters on in SQL
(currency, price, availability). Reads give back the model; what a caller may see of
it is decided later, by ``visibility.view``.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, select

from ..store import Store, Transaction, catalog_products, catalog_settings, catalog_variants
from ..timeutil import utc_now_iso
from ._model import CatalogSettings, Product, Variant

__all__ = ["Catalog", "VariantTaken", "stored_json"]


class VariantTaken(ValueError):
    """A variant id is already used by another product of the tenant: variant ids are
    what quotes, claims and feeds name, so they must be unique across the catalog."""


class Catalog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def put(self, tx: Transaction, tenant: str, product: Product, by: str) -> bool:
        """Create or replace ``product``; True if it is new. Variants it no longer has go."""
        ids = [v.id for v in product.variants]
        if len(set(ids)) != len(ids):
            raise VariantTaken("a variant id appears twice in this product")
        owners = (
            await tx.execute(
                select(catalog_variants.c.id, catalog_variants.c.product_id).where(
                    catalog_variants.c.tenant_id == tenant, catalog_variants.c.id.in_(ids)
                )
            )
        ).all()
        taken = sorted(row.id for row in owners if row.product_id != product.id)
        if taken:
            raise VariantTaken(f"variant {taken[0]!r} belongs to another product")
        existed = await tx.get(catalog_products, {"tenant_id": tenant, "id": product.id}) is not None
        row = {
            "tenant_id": tenant,
            "id": product.id,
            "title": product.title,
            "document": product.model_dump(mode="json"),
            "updated_at": utc_now_iso(),
            "updated_by": by,
        }
        await tx.upsert(catalog_products, row)
        await tx.execute(
            delete(catalog_variants).where(catalog_variants.c.tenant_id == tenant, catalog_variants.c.product_id == product.id)
        )
        for variant in product.variants:
            await tx.insert(catalog_variants, _variant_row(tenant, product.id, variant))
        return not existed

    async def remove(self, tx: Transaction, tenant: str, product_id: str) -> Product | None:
        found = await self.product(tenant, product_id, tx)
        if found is not None:
            await tx.execute(
                delete(catalog_variants).where(*_of(catalog_variants, tenant), catalog_variants.c.product_id == product_id)
            )
            await tx.execute(delete(catalog_products).where(*_of(catalog_products, tenant), catalog_products.c.id == product_id))
        return found

    async def product(self, tenant: str, product_id: str, tx: Transaction | None = None) -> Product | None:
        key = {"tenant_id": tenant, "id": product_id}
        row = await (tx.get(catalog_products, key) if tx is not None else self.store.get(catalog_products, key))
        return None if row is None else Product.model_validate(stored_json(row["document"]))

    async def products(self, tenant: str) -> list[Product]:
        """Every product, by id: what feeds are made of."""
        rows = await self.store.fetch_all(
            select(catalog_products.c.document).where(*_of(catalog_products, tenant)).order_by(catalog_products.c.id)
        )
        return [Product.model_validate(stored_json(r["document"])) for r in rows]

    async def variant(self, tenant: str, variant_id: str, tx: Transaction | None = None) -> tuple[Product, Variant] | None:
        key = {"tenant_id": tenant, "id": variant_id}
        row = await (tx.get(catalog_variants, key) if tx is not None else self.store.get(catalog_variants, key))
        product = None if row is None else await self.product(tenant, row["product_id"], tx)
        variant = None if product is None else product.variant(variant_id)
        return None if product is None or variant is None else (product, variant)

    async def candidates(self, tenant: str, currency: str | None, low: int | None, high: int | None) -> list[Product]:
        """Products with a variant in the price range: what search filters further."""
        query = select(catalog_variants.c.product_id).where(*_of(catalog_variants, tenant)).distinct()
        if currency is not None:
            query = query.where(catalog_variants.c.currency == currency)
        if low is not None:
            query = query.where(catalog_variants.c.price_minor >= low)
        if high is not None:
            query = query.where(catalog_variants.c.price_minor <= high)
        ids = [r["product_id"] for r in await self.store.fetch_all(query)]
        if not ids:
            return []
        rows = await self.store.fetch_all(
            select(catalog_products.c.document).where(*_of(catalog_products, tenant), catalog_products.c.id.in_(ids))
        )
        return [Product.model_validate(stored_json(r["document"])) for r in rows]

    async def put_settings(self, tx: Transaction, tenant: str, settings: CatalogSettings, by: str) -> None:
        row = {"tenant_id": tenant, "document": settings.model_dump(mode="json"), "updated_at": utc_now_iso(), "updated_by": by}
        await tx.upsert(catalog_settings, row)

    async def settings(self, tenant: str, tx: Transaction | None = None) -> CatalogSettings | None:
        key = {"tenant_id": tenant}
        row = await (tx.get(catalog_settings, key) if tx is not None else self.store.get(catalog_settings, key))
        return None if row is None else CatalogSettings.model_validate(stored_json(row["document"]))


def _of(table: Any, tenant: str) -> tuple[Any, ...]:
    return (table.c.tenant_id == tenant,)


def stored_json(value: Any) -> Any:
    """A JSON column as read: driver-level reads on SQLite give its text, SQLAlchemy's objects."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _variant_row(tenant: str, product_id: str, variant: Variant) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "id": variant.id,
        "product_id": product_id,
        "price_minor": variant.price.amount_minor,
        "currency": variant.price.currency,
        "availability": variant.availability,
    }
