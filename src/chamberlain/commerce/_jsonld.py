"""schema.org JSON-LD for one product: what search engines and shopping agents read.

Every product is a ``ProductGroup`` whose ``hasVariant`` are ``Product`` nodes, each with
one ``Offer``. A product with a single variant is still a group, on purpose: the
document has one shape whatever the catalog holds, so a consumer needs one parser; the
product id (``productGroupID``) and the variant id (``productID``, and the ``#variant``
fragment of the node's ``@id``) stay two things, as they are in the ACP feed and in
quotes and claims; and adding a second colour later changes no ``@id`` and no ``@type``
an agent may have stored. schema.org allows it: a ProductGroup "serves as a prototype or
template" for its variants, with no minimum count.

Properties every variant shares (brand, description, category, the product's
``attributes``) live on the group, which schema.org defines as the place for
"characteristics shared by each of the (possibly very many) variants", instead of being
copied into up to a hundred variants.

Signed claims are linked from the variant they are about with ``subjectOf`` ("A
CreativeWork or Event about this Thing", the inverse of ``about``): a claim is a document
whose subject is that variant, so the link points the right way without inventing a
property, and each credential is a ``DigitalDocument`` (a CreativeWork) identified by the
URL it can be fetched and verified at.

Prices are decimal strings in major units (``"79.99"``), as schema.org asks ("use '.' to
indicate a decimal point", no currency symbols), computed without floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ._rendering import decimal_string, image_urls, public_settings, variant_title
from ._storefront import Storefront

__all__ = ["AVAILABILITY", "jsonld_script", "product_jsonld"]

AVAILABILITY = {
    "in_stock": "https://schema.org/InStock",
    "out_of_stock": "https://schema.org/OutOfStock",
    "preorder": "https://schema.org/PreOrder",
    "backorder": "https://schema.org/BackOrder",
}
# Options schema.org has a Product property for. schema.org asks for those properties
# rather than a generic PropertyValue ("applications ... will typically expect such data
# to be provided using those properties"), and lets ``variesBy`` name them by short name.
_OPTION_PROPERTIES = {"color": "color", "colour": "color", "size": "size", "material": "material", "pattern": "pattern"}
_GTIN_PROPERTY = {8: "gtin8", 12: "gtin12", 13: "gtin13", 14: "gtin14"}


def product_jsonld(product: Mapping[str, Any], front: Storefront, claims: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The JSON-LD document of ``product``, a view dict (``view(product, audience)``).

    ``claims`` maps a variant id to the URLs of its current signed claims; variants
    without an entry get no ``subjectOf``. Only fields named here are read, so a partner
    or internal view renders exactly like the public one.
    """
    settings = public_settings(front)
    terms = _offer_terms(settings)
    product_id = product["id"]
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ProductGroup",
        "@id": front.product_url(product_id),
        "productGroupID": product_id,
        "name": product["title"],
    }
    if product.get("description"):
        doc["description"] = product["description"]
    if product.get("brand"):
        doc["brand"] = {"@type": "Brand", "name": product["brand"]}
    doc["url"] = product.get("url") or front.product_url(product_id)
    if images := image_urls(product.get("media", [])):
        doc["image"] = images
    if product.get("categories"):
        doc["category"] = list(product["categories"])
    if varies := _varies_by(product["variants"]):
        doc["variesBy"] = varies
    if product.get("attributes"):
        doc["additionalProperty"] = [_property(name, value) for name, value in product["attributes"].items()]
    doc["hasVariant"] = [_variant(product, v, front, terms, claims.get(v["id"], ())) for v in product["variants"]]
    return doc


def jsonld_script(doc: Mapping[str, Any]) -> str:
    """``doc`` as an HTML ``<script type="application/ld+json">`` element.

    A script element's content ends at the first ``</script`` and is thrown into another
    parsing state by ``<!--``, whatever JSON quoting says, so a product description
    containing either could end the element early and inject markup. Every ``<`` is
    written as the JSON escape ``\\u003c`` (a superset of the usual ``</`` to ``<\\/``):
    ``<`` only ever occurs inside JSON strings, so the JSON means the same and the element
    can contain neither sequence.
    """
    body = orjson.dumps(doc).decode().replace("<", "\\u003c")
    return f'<script type="application/ld+json">{body}</script>'


def _variant(
    product: Mapping[str, Any],
    variant: Mapping[str, Any],
    front: Storefront,
    terms: Mapping[str, Any],
    claim_urls: Sequence[str],
) -> dict[str, Any]:
    url = front.variant_url(product["id"], variant["id"])
    node: dict[str, Any] = {
        "@type": "Product",
        "@id": url,
        "productID": variant["id"],
        "sku": variant.get("sku") or variant["id"],
        "name": variant_title(product, variant),
    }
    if gtin := variant.get("gtin"):
        node[_GTIN_PROPERTY[len(gtin)]] = gtin
    if variant.get("mpn"):
        node["mpn"] = variant["mpn"]
    if images := image_urls(variant.get("media", [])):
        node["image"] = images
    options = variant.get("options", {})
    for name, value in options.items():
        if prop := _OPTION_PROPERTIES.get(name.lower()):
            node.setdefault(prop, value)
    if options:
        node["additionalProperty"] = [_property(name, value) for name, value in options.items()]
    node["offers"] = _offer(variant, url, terms)
    if claim_urls:
        node["subjectOf"] = [{"@type": "DigitalDocument", "@id": u, "url": u} for u in claim_urls]
    return node


def _offer(variant: Mapping[str, Any], url: str, terms: Mapping[str, Any]) -> dict[str, Any]:
    price = variant["price"]
    amount = decimal_string(price)
    return {
        "@type": "Offer",
        "url": url,
        "price": amount,
        "priceCurrency": price["currency"],
        "priceSpecification": {
            "@type": "PriceSpecification",
            "price": amount,
            "priceCurrency": price["currency"],
            "valueAddedTaxIncluded": terms["tax_included"],
        },
        "availability": AVAILABILITY[variant["availability"]],
        **terms["offer"],
    }


def _offer_terms(settings: Mapping[str, Any]) -> dict[str, Any]:
    """What every offer of the store repeats (seller, returns, shipping), built once."""
    seller = settings["seller"]
    organization: dict[str, Any] = {"@type": "Organization", "name": seller["name"]}
    if seller.get("url"):
        organization["url"] = seller["url"]
    offer: dict[str, Any] = {"seller": organization, "hasMerchantReturnPolicy": _return_policy(settings)}
    if settings.get("shipping"):
        offer["shippingDetails"] = [_shipping(rate) for rate in settings["shipping"]]
    return {"offer": offer, "tax_included": bool(settings.get("prices_include_tax", False))}


def _return_policy(settings: Mapping[str, Any]) -> dict[str, Any]:
    returns = settings["returns"]
    policy: dict[str, Any] = {"@type": "MerchantReturnPolicy"}
    # The policy applies where the store ships; a store that declares no shipping
    # countries gets a policy without ``applicableCountry`` rather than a guessed one.
    if countries := sorted({rate["country"] for rate in settings.get("shipping", [])}):
        policy["applicableCountry"] = countries
    if returns["days"] > 0:
        policy["returnPolicyCategory"] = "https://schema.org/MerchantReturnFiniteReturnWindow"
        policy["merchantReturnDays"] = returns["days"]
        policy["returnFees"] = (
            "https://schema.org/FreeReturn" if returns.get("free") else "https://schema.org/ReturnFeesCustomerResponsibility"
        )
    else:
        policy["returnPolicyCategory"] = "https://schema.org/MerchantReturnNotPermitted"
    if returns.get("url"):
        policy["merchantReturnLink"] = returns["url"]
    return policy


def _shipping(rate: Mapping[str, Any]) -> dict[str, Any]:
    # ``free_over`` is not rendered: schema.org's only threshold property
    # (``freeShippingThreshold``) belongs to ShippingRateSettings, and the ShippingConditions
    # that could carry an order value are still "pending". Quotes apply it.
    return {
        "@type": "OfferShippingDetails",
        "shippingRate": {
            "@type": "MonetaryAmount",
            "value": decimal_string(rate["price"]),
            "currency": rate["price"]["currency"],
        },
        "shippingDestination": {"@type": "DefinedRegion", "addressCountry": rate["country"]},
        "deliveryTime": {
            "@type": "ShippingDeliveryTime",
            "transitTime": {
                "@type": "QuantitativeValue",
                "minValue": rate["min_days"],
                "maxValue": rate["max_days"],
                "unitCode": "DAY",
            },
        },
    }


def _varies_by(variants: Sequence[Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for variant in variants:
        for name in variant.get("options", {}):
            names[_OPTION_PROPERTIES.get(name.lower(), name)] = None
    return list(names)


def _property(name: str, value: Any) -> dict[str, Any]:
    return {"@type": "PropertyValue", "name": name, "value": value}
