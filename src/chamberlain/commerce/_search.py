"""Structured search over a tenant's catalog, for agents comparing offers.

Ordering is position-neutral: a result's place depends only on the sort the caller
chose and, for ties, on the variant id. There is no relevance boost, no sponsored
slot and nothing personal, so the same query gives every caller the same order and
an agent can trust that the first result is first by its own criterion.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ..money import Money
from ._catalog import Catalog
from ._model import Availability, CatalogSettings, Country, Gtin, Product, Variant, Visibility, visibility
from ._storefront import Storefront
from ._visibility import view

__all__ = ["AttributeFilter", "AvailabilityFilter", "SearchHit", "SearchPage", "SearchQuery", "search"]

Sort = Literal["price_asc", "price_desc", "title_asc", "id_asc"]
AttributeFilter = Annotated[dict[Annotated[str, Field(max_length=40)], str | int | float | bool], Field(max_length=20)]
"""Attribute constraints, shared by ``SearchQuery`` and the action's arguments so the
bounds the caller is told and checked against are the ones the query enforces."""
AvailabilityFilter = Annotated[list[Availability], Field(max_length=4)]
"""Availabilities to accept: four values exist, so a longer list only repeats them."""


class PriceRange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    min_minor: Annotated[int, Field(ge=0)] | None = None
    max_minor: Annotated[int, Field(ge=0)] | None = None


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description='A category path or its start: "Kitchen" matches "Kitchen > Kettles".'
    )
    text: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="Words that must all appear in the title, brand or description (any case)."
    )
    attributes: AttributeFilter = Field(
        default_factory=dict, description="Each must equal a product attribute or a variant option."
    )
    gtin: Gtin | None = Field(default=None, description="Only offers of this barcode (to compare stores).")
    price: PriceRange | None = None
    availability: AvailabilityFilter | None = None
    ships_to: Country | None = Field(default=None, description="Only offers the seller ships to this country.")
    sort: Sort = Field(default="price_asc", description="Ties are broken by variant id, ascending.")
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(max_length=500)] | None = Field(default=None, description="next_cursor of the previous page.")


class SearchHit(BaseModel):
    product_id: str
    variant_id: str
    title: str
    brand: str | None = None
    gtin: str | None = Field(default=None, description="The barcode: the same product sold by other stores has the same one.")
    categories: list[str]
    options: dict[str, str]
    attributes: dict[str, Any]
    price: Money
    availability: Availability
    partner_price: Money | None = visibility("partner", default=None)
    url: str = Field(description="The product's schema.org JSON-LD.")
    claims: str = Field(description="The variant's current signed claims.")


class SearchPage(BaseModel):
    results: list[dict[str, Any]]
    total: int = Field(description="How many offers match, over all pages.")
    next_cursor: str | None


class BadCursor(ValueError):
    pass


def _matches(query: SearchQuery, product: Product, variant: Variant, settings: CatalogSettings | None) -> bool:
    if query.category is not None and not any(
        c == query.category or c.startswith(query.category + " > ") for c in product.categories
    ):
        return False
    if query.text is not None:
        haystack = " ".join([product.title, variant.title, product.brand or "", product.description]).lower()
        if not all(word in haystack for word in query.text.lower().split()):
            return False
    for name, wanted in query.attributes.items():
        if product.attributes.get(name, variant.options.get(name)) != wanted:
            return False
    if query.gtin is not None and variant.gtin != query.gtin:
        return False
    if query.price is not None and not _in_range(query.price, variant.price):
        return False
    if query.availability is not None and variant.availability not in query.availability:
        return False
    return query.ships_to is None or (settings is not None and settings.shipping_to(query.ships_to) is not None)


def _in_range(wanted: PriceRange, price: Money) -> bool:
    low, high = wanted.min_minor, wanted.max_minor
    return (
        price.currency == wanted.currency
        and (low is None or price.amount_minor >= low)
        and (high is None or price.amount_minor <= high)
    )


def _key(sort: Sort, hit: SearchHit) -> tuple[Any, ...]:
    if sort == "price_asc":
        return (hit.price.currency, hit.price.amount_minor, hit.variant_id)
    if sort == "price_desc":
        return (hit.price.currency, -hit.price.amount_minor, hit.variant_id)
    if sort == "title_asc":
        return (hit.title.casefold(), hit.variant_id)
    return (hit.variant_id,)


def _cursor(sort: Sort, key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"sort": sort, "after": list(key)})).decode().rstrip("=")


def _after(query: SearchQuery) -> tuple[Any, ...] | None:
    if query.cursor is None:
        return None
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4)))
        if decoded["sort"] != query.sort or not isinstance(decoded["after"], list):
            raise BadCursor("this cursor belongs to a search with another sort")
        return tuple(decoded["after"])
    except (ValueError, KeyError, TypeError) as err:
        raise BadCursor(str(err) if isinstance(err, BadCursor) else "not a cursor this search gave") from err


async def search(catalog: Catalog, front: Storefront | None, tenant: str, query: SearchQuery, audience: Visibility) -> SearchPage:
    """One page of offers (variants) matching ``query``, rendered for ``audience``."""
    wanted = query.price
    products = await catalog.candidates(
        tenant,
        wanted.currency if wanted else None,
        wanted.min_minor if wanted else None,
        wanted.max_minor if wanted else None,
    )
    settings = front.settings if front is not None else None
    hits = [
        _hit(product, variant, front)
        for product in products
        for variant in product.variants
        if _matches(query, product, variant, settings)
    ]
    hits.sort(key=lambda h: _key(query.sort, h))
    after = _after(query)
    try:
        hits_after = hits if after is None else [h for h in hits if _key(query.sort, h) > after]
    except TypeError as err:  # a cursor whose values are not of the sort's types
        raise BadCursor("not a cursor this search gave") from err
    page = hits_after[: query.limit]
    more = len(hits_after) > query.limit
    return SearchPage(
        results=[view(h, audience) for h in page],
        total=len(hits),
        next_cursor=_cursor(query.sort, _key(query.sort, page[-1])) if more and page else None,
    )


def _hit(product: Product, variant: Variant, front: Storefront | None) -> SearchHit:
    return SearchHit(
        product_id=product.id,
        variant_id=variant.id,
        title=variant.title,
        brand=product.brand,
        gtin=variant.gtin,
        categories=product.categories,
        options=variant.options,
        attributes=product.attributes,
        price=variant.price,
        availability=variant.availability,
        partner_price=variant.partner_price,
        url=front.product_url(product.id) if front else "",
        claims=front.claims_of_url(variant.id) if front else "",
    )
