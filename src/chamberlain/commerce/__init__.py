"""Publishing the business to shopping agents: a catalog with field visibility, feeds
and JSON-LD, signed claims, position-neutral search, and quotes checkout honours."""

from ._actions import COMMERCE_EVENTS, commerce_surface
from ._catalog import Catalog
from ._model import CatalogSettings, Media, Product, ReturnPolicy, Seller, ShippingRate, TaxRate, Variant, Visibility
from ._service import Commerce, NoStorefront
from ._storefront import Storefront
from ._visibility import audience_of, field_classes, view

__all__ = [
    "COMMERCE_EVENTS",
    "Catalog",
    "CatalogSettings",
    "Commerce",
    "Media",
    "NoStorefront",
    "Product",
    "ReturnPolicy",
    "Seller",
    "ShippingRate",
    "Storefront",
    "TaxRate",
    "Variant",
    "Visibility",
    "audience_of",
    "commerce_surface",
    "field_classes",
    "view",
]
