"""The demo tenants' catalogs: the same kettle sold by both shops (same GTIN, other
prices and terms), so a shopping agent has two offers to compare."""

from __future__ import annotations

from typing import Any

from ..commerce import CatalogSettings, Product
from ..money import Money

KETTLE_GTIN = {"steel": "4006381333931", "black": "4006381333948"}

TERMS: dict[str, dict[str, Any]] = {
    "acme-shop": {
        "seller": {"name": "Acme Shop", "url": "https://acme-shop.example", "terms_url": "https://acme-shop.example/terms"},
        "returns": {"days": 30, "free": True, "url": "https://acme-shop.example/returns"},
        "shipping": [
            {
                "country": "DE",
                "price": {"amount_minor": 490, "currency": "EUR"},
                "free_over": {"amount_minor": 5000, "currency": "EUR"},
                "min_days": 1,
                "max_days": 3,
            },
            {"country": "FR", "price": {"amount_minor": 790, "currency": "EUR"}, "min_days": 2, "max_days": 5},
        ],
        "taxes": [{"country": "DE", "rate_bp": 1900}, {"country": "FR", "rate_bp": 2000}],
        "prices_include_tax": True,
    },
    "globex-store": {
        "seller": {"name": "Globex Store", "url": "https://globex-store.example"},
        "returns": {"days": 14, "free": False},
        "shipping": [
            {"country": "US", "price": {"amount_minor": 599, "currency": "USD"}, "min_days": 2, "max_days": 6},
            {"country": "DE", "price": {"amount_minor": 1500, "currency": "USD"}, "min_days": 5, "max_days": 12},
        ],
        "taxes": [{"country": "US", "rate_bp": 0}, {"country": "DE", "rate_bp": 1900}],
    },
}


def settings(tenant: str) -> CatalogSettings:
    return CatalogSettings.model_validate(TERMS[tenant])


def products(tenant: str, currency: str) -> list[Product]:
    """Prices differ by shop: Globex is cheaper on the kettle, dearer on shipping."""
    kettle = 3999 if tenant == "acme-shop" else 3499

    def money(amount: int) -> dict[str, Any]:
        return Money(amount_minor=amount, currency=currency).model_dump()

    def variant(vid: str, title: str, price: int, **more: Any) -> dict[str, Any]:
        internal = {"cost": money(price * 2 // 5), "supplier": "Kettleworks GmbH", "stock_quantity": 42}
        media = [{"url": f"https://{tenant}.example/images/{vid}.jpg", "alt": title}]
        public = {"id": vid, "title": title, "price": money(price), "media": media}
        return {**public, "partner_price": money(price * 4 // 5), **internal, **more}

    docs: list[dict[str, Any]] = [
        {
            "id": "p_kettle",
            "title": "Electric kettle 1.7 l",
            "description": "A 1.7 litre stainless kettle with auto shut-off.",
            "brand": "Kettleworks",
            "categories": ["Kitchen > Kettles"],
            "attributes": {"capacity_l": 1.7, "power_w": 2200, "material": "steel"},
            "variants": [
                variant(
                    "v_kettle_steel",
                    "Electric kettle 1.7 l, steel",
                    kettle,
                    availability="in_stock",
                    gtin=KETTLE_GTIN["steel"],
                    mpn="KW-17-S",
                    options={"color": "steel"},
                ),
                variant(
                    "v_kettle_black",
                    "Electric kettle 1.7 l, black",
                    kettle + 200,
                    availability="backorder",
                    gtin=KETTLE_GTIN["black"],
                    mpn="KW-17-B",
                    options={"color": "black"},
                ),
            ],
            "supplier_notes": "Reorder at 10 units; supplier contract renews in March.",
        },
        {
            "id": "p_teapot",
            "title": "Teapot 1 l",
            "brand": "Potter & Co",
            "categories": ["Kitchen > Tea"],
            "attributes": {"capacity_l": 1.0, "material": "porcelain"},
            "variants": [variant("v_teapot", "Teapot 1 l, white", 2450, availability="in_stock", gtin="4006381333955")],
        },
        {
            "id": "p_mugs",
            "title": "Mug set of 4",
            "brand": "Potter & Co",
            "categories": ["Kitchen > Tea"],
            "attributes": {"pieces": 4, "material": "stoneware"},
            "variants": [variant("v_mugs", "Mug set of 4", 1800, availability="preorder")],
        },
    ]
    return [Product.model_validate(doc) for doc in docs]
