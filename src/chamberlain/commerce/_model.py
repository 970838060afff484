"""The canonical catalog: a product with its variants, and the seller's terms.

One model, many outputs. Feeds, JSON-LD, search results, quotes and claims are all
rendered from these objects (after ``visibility.view``), so a field means the same
thing everywhere and a new output cannot forget a rule the others keep.

Every field carries its visibility class in its schema (``x-visibility``): ``public``
(anyone, including an anonymous shopping agent), ``partner`` (agents of businesses
the tenant trades with) or ``internal`` (the tenant's own people: cost, supplier,
exact stock). Unmarked fields are public.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..money import Money

__all__ = [
    "Availability",
    "CatalogSettings",
    "Media",
    "Product",
    "ReturnPolicy",
    "Seller",
    "ShippingRate",
    "TaxRate",
    "Variant",
    "Visibility",
]

Visibility = Literal["public", "partner", "internal"]
Availability = Literal["in_stock", "out_of_stock", "preorder", "backorder"]

CatalogId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Stable id, chosen by the business.")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code.")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Url = Annotated[str, Field(pattern=r"^https://[^\s]{1,2040}$", description="An https URL.")]


def _gtin(value: str) -> str:
    """GTIN-8, -12 (UPC), -13 (EAN) or -14, with a correct check digit: a barcode agents
    match offers on must not be mistyped."""
    if not value.isdigit() or len(value) not in (8, 12, 13, 14):
        raise ValueError("a GTIN is 8, 12, 13 or 14 digits")
    body, check = value[:-1], int(value[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        raise ValueError("the GTIN's check digit is wrong")
    return value


Gtin = Annotated[str, AfterValidator(_gtin), Field(description="GTIN-8/12/13/14 barcode, check digit verified.")]


def visibility(level: Visibility, **kw: Any) -> Any:
    """A field of this visibility class (kept in its JSON Schema as ``x-visibility``)."""
    return Field(json_schema_extra={"x-visibility": level}, **kw)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Media(_Strict):
    url: Url
    alt: Annotated[str, Field(max_length=300)] = ""
    kind: Literal["image", "video"] = "image"


MAX_PRICE_MINOR = 10**12
"""A price past this is a typo (ten billion in a two-decimal currency), not an offer."""


def _sane(money: Money) -> Money:
    if money.amount_minor > MAX_PRICE_MINOR:
        raise ValueError(f"at most {MAX_PRICE_MINOR} minor units")
    return money


Price = Annotated[Money, AfterValidator(_sane)]


class Variant(_Strict):
    """What is bought: one price, one barcode, one availability."""

    id: CatalogId
    title: Text
    price: Price
    availability: Availability
    sku: Annotated[str, Field(max_length=64)] | None = None
    gtin: Gtin | None = None
    mpn: Annotated[str, Field(max_length=70)] | None = None
    options: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=100)]] = Field(
        default_factory=dict, description='What tells variants apart, e.g. {"color": "red"}.', max_length=10
    )
    media: list[Media] = Field(default_factory=list, max_length=20)
    weight_g: Annotated[int, Field(ge=0)] | None = None
    partner_price: Money | None = visibility("partner", default=None, description="Trade price for partners.")
    lead_time_days: Annotated[int, Field(ge=0, le=365)] | None = visibility("partner", default=None)
    cost: Money | None = visibility("internal", default=None, description="What the business pays for it.")
    supplier: Annotated[str, Field(max_length=200)] | None = visibility("internal", default=None)
    stock_quantity: Annotated[int, Field(ge=0)] | None = visibility("internal", default=None)


class Product(_Strict):
    id: CatalogId
    title: Text
    description: Annotated[str, Field(max_length=5000)] = ""
    brand: Annotated[str, Field(max_length=100)] | None = None
    categories: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=10, description='Paths from general to specific: "Kitchen > Kettles".'
    )
    attributes: dict[Annotated[str, Field(max_length=40)], str | int | float | bool] = Field(
        default_factory=dict, max_length=50, description='Specification, searchable: {"capacity_l": 1.7}.'
    )
    url: Url | None = None
    media: list[Media] = Field(default_factory=list, max_length=20)
    variants: list[Variant] = Field(min_length=1, max_length=100)
    supplier_notes: Annotated[str, Field(max_length=2000)] | None = visibility("internal", default=None)

    def variant(self, variant_id: str) -> Variant | None:
        return next((v for v in self.variants if v.id == variant_id), None)


class Seller(_Strict):
    name: Text
    url: Url | None = None
    terms_url: Url | None = None
    privacy_url: Url | None = None


class ReturnPolicy(_Strict):
    days: Annotated[int, Field(ge=0, le=365)]
    free: bool = False
    url: Url | None = None


class ShippingRate(_Strict):
    """Shipping to one country: a flat price per order, free above a threshold."""

    country: Country
    price: Money
    free_over: Money | None = None
    min_days: Annotated[int, Field(ge=0, le=90)]
    max_days: Annotated[int, Field(ge=0, le=90)]


class TaxRate(_Strict):
    """A country's sales tax or VAT, in basis points (1900 = 19%). Prices are given
    without it and it is added in quotes (``prices_include_tax`` says otherwise)."""

    country: Country
    rate_bp: Annotated[int, Field(ge=0, le=10_000)]


class CatalogSettings(_Strict):
    """The seller and its terms, shared by every product of the tenant."""

    seller: Seller
    returns: ReturnPolicy
    shipping: list[ShippingRate] = Field(default_factory=list, max_length=250)
    taxes: list[TaxRate] = Field(default_factory=list, max_length=250)
    prices_include_tax: bool = False
    quote_ttl_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 900

    def shipping_to(self, country: str) -> ShippingRate | None:
        return next((r for r in self.shipping if r.country == country), None)

    def tax_bp(self, country: str) -> int:
        return next((t.rate_bp for t in self.taxes if t.country == country), 0)
