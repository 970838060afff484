"""The catalog as governed actions: every change is policy-checked, audited and emits
an event; every read is rendered for the caller's audience (``_visibility``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field

from ..actions import Surface
from ..context import Context
from ..errors import ActionError
from ..money import Money
from ..timeutil import utc_now
from ._catalog import VariantTaken
from ._claims import ClaimKind
from ._model import CatalogSettings, Country, Gtin, Product
from ._quotes import QuoteError, QuoteItem
from ._search import AttributeFilter, AvailabilityFilter, BadCursor, PriceRange, SearchPage, SearchQuery, Sort, search
from ._service import Commerce, NoStorefront
from ._visibility import audience_of, view

__all__ = ["COMMERCE_EVENTS", "commerce_surface"]

COMMERCE_EVENTS = {
    "catalog.product_changed": "A product was created or replaced (subject: products/<id>).",
    "catalog.product_removed": "A product was taken out of the catalog (subject: products/<id>).",
    "catalog.settings_changed": "The seller or its terms (returns, shipping, taxes) changed (subject: settings).",
    "catalog.claim_issued": "A signed claim about a variant was issued (subject: variants/<id>).",
    "order.placed": "A checkout completed an order at its quoted total (subject: orders/<id>).",
}
ProductId = Annotated[str, Field(min_length=1, max_length=64)]
T = TypeVar("T")


class ProductPut(BaseModel):
    product_id: str
    created: bool
    variants: int


class Removed(BaseModel):
    product_id: str
    removed: bool


class Settled(BaseModel):
    seller: str
    ships_to: list[str]


class Cart(BaseModel):
    cart_id: str
    quote_id: str
    status: str
    total: Money
    order_id: str | None = None
    quote: dict[str, Any] | None = None


async def _refusing(work: Awaitable[T]) -> T:
    """Domain refusals as structured action errors (RFC 9457 on REST, tool errors on MCP)."""
    try:
        return await work
    except QuoteError as err:
        raise ActionError(str(err), code=err.code, **err.extra) from err
    except NoStorefront as err:
        raise ActionError(str(err), code="no-storefront") from err
    except VariantTaken as err:
        raise ActionError(str(err), code="variant-taken") from err
    except BadCursor as err:
        raise ActionError(str(err), code="bad-cursor") from err


def commerce_surface(commerce: Commerce, audience: Callable[[], str]) -> Surface:
    """``audience()`` is the gateway's grant audience (grants are checked against it)."""
    surface = Surface("chamberlain-commerce", description="The catalog, signed claims, quotes and checkout.")
    for type, meaning in COMMERCE_EVENTS.items():
        surface.event(type, meaning)

    def seen_by(ctx: Context) -> Any:
        return audience_of(ctx.grant, audience(), utc_now())

    @surface.action("catalog.products.put", risk="write")
    async def put_product(product: Product, ctx: Context) -> ProductPut:
        """Create or replace a product with all its variants (ids are stable: reuse them)."""
        created = await _refusing(commerce.catalog.put(ctx.tx, ctx.tenant, product, ctx.principal.id))
        await ctx.emit(
            "catalog.product_changed", {"product_id": product.id, "created": created}, subject=f"products/{product.id}"
        )
        return ProductPut(product_id=product.id, created=created, variants=len(product.variants))

    @surface.action("catalog.products.remove", risk="write")
    async def remove_product(product_id: ProductId, ctx: Context) -> Removed:
        """Take a product out of the catalog; its signed claims stay valid until they expire."""
        gone = await commerce.catalog.remove(ctx.tx, ctx.tenant, product_id)
        if gone is not None:
            await ctx.emit("catalog.product_removed", {"product_id": product_id}, subject=f"products/{product_id}")
        return Removed(product_id=product_id, removed=gone is not None)

    @surface.action("catalog.products.get", risk="read", resource="catalog://products/{product_id}")
    async def get_product(product_id: ProductId, ctx: Context) -> dict[str, Any]:
        """One product with its variants, with the fields your grant may see."""
        product = await commerce.catalog.product(ctx.tenant, product_id, ctx.tx)
        if product is None:
            raise ActionError(f"no product {product_id!r}", code="product-not-found")
        return view(product, seen_by(ctx))

    @surface.action("catalog.settings.put", risk="write")
    async def put_settings(settings: CatalogSettings, ctx: Context) -> Settled:
        """Publish the seller and its terms: returns, shipping rates and taxes per country."""
        await commerce.catalog.put_settings(ctx.tx, ctx.tenant, settings, ctx.principal.id)
        settled = Settled(seller=settings.seller.name, ships_to=[r.country for r in settings.shipping])
        await ctx.emit("catalog.settings_changed", settled.model_dump(), subject="settings")
        return settled

    @surface.action("catalog.search", risk="read")
    async def search_catalog(
        ctx: Context,
        category: Annotated[str, Field(min_length=1, max_length=200)] | None = None,
        text: Annotated[str, Field(min_length=1, max_length=200)] | None = None,
        attributes: AttributeFilter | None = None,
        gtin: Gtin | None = None,
        price: PriceRange | None = None,
        availability: AvailabilityFilter | None = None,
        ships_to: Country | None = None,
        sort: Sort = "price_asc",
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        cursor: Annotated[str, Field(max_length=500)] | None = None,
    ) -> SearchPage:
        """Offers matching every constraint given, in the chosen order (ties by variant id;
        no boosts, nothing sponsored), a page at a time."""
        query = SearchQuery(
            category=category,
            text=text,
            attributes=attributes or {},
            gtin=gtin,
            price=price,
            availability=availability,
            ships_to=ships_to,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        front = await commerce.published(ctx.tenant)
        return await _refusing(search(commerce.catalog, front, ctx.tenant, query, seen_by(ctx)))

    @surface.action("claims.issue", risk="write")
    async def issue_claim(
        variant_id: ProductId,
        kind: ClaimKind,
        ctx: Context,
        valid_for_s: Annotated[int, Field(ge=60, le=365 * 86400)] = 86400,
        statement: dict[Annotated[str, Field(max_length=40)], str | int | float | bool] | None = None,
    ) -> dict[str, Any]:
        """Sign a claim about a variant as a W3C Verifiable Credential (eddsa-jcs-2022).
        price, specification and availability come from the catalog; certification and
        rating sign the ``statement`` given."""
        if kind in ("certification", "rating") and not statement:
            raise ActionError(f"a {kind} claim signs a statement: give one", code="statement-required")
        front = await _refusing(commerce.storefront(ctx.tenant, ctx.tx))
        found = await commerce.catalog.variant(ctx.tenant, variant_id, ctx.tx)
        if found is None:
            raise ActionError(f"no offer {variant_id!r}", code="offer-not-found")
        product, variant = found
        signed = await commerce.claims.issue(ctx.tx, front, product, variant, kind, timedelta(seconds=valid_for_s), statement)
        await ctx.emit("catalog.claim_issued", {"claim": signed["id"], "kind": kind}, subject=f"variants/{variant_id}")
        return signed

    @surface.action("quotes.create", risk="read", rate="60/minute")
    async def create_quote(
        items: Annotated[list[QuoteItem], Field(min_length=1, max_length=50)], ships_to: Country, ctx: Context
    ) -> dict[str, Any]:
        """A landed-cost quote (items, shipping, tax, total, expiry) as a signed credential:
        checkout honours its total until it expires."""
        front = await _refusing(commerce.storefront(ctx.tenant, ctx.tx))
        return await _refusing(commerce.quotes.quote(ctx.tx, front, items, ships_to, ctx.principal.id))

    @surface.action("cart.create", risk="write")
    async def create_cart(quote_id: Annotated[str, Field(min_length=1, max_length=40)], ctx: Context) -> Cart:
        """A cart holding a quote's items at the quoted total, ready for checkout."""
        return Cart(**await _refusing(commerce.quotes.open_cart(ctx.tx, ctx.tenant, quote_id, ctx.principal.id)))

    @surface.action("checkout.complete", risk="money")
    async def complete_checkout(cart_id: Annotated[str, Field(min_length=1, max_length=40)], amount: Money, ctx: Context) -> Cart:
        """Place the order and pay ``amount``, which must be the cart's quoted total."""
        done = Cart(**await _refusing(commerce.quotes.complete(ctx.tx, ctx.tenant, cart_id, amount)))
        await ctx.emit("order.placed", done.model_dump(mode="json"), subject=f"orders/{done.order_id}")
        return done

    return surface
