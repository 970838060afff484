"""Product feeds: the whole catalog in one file, in the formats shopping agents ingest.

Three formats, all rendered from view dicts (see ``_visibility``), never from models:

``acp``
    The Agentic Commerce Protocol product feed, version ``ACP_FEED_VERSION`` (2026-04-17,
    the newest dated release; ``spec/2026-04-17/json-schema/schema.feed.json``, vendored
    under ``schemas/``). Its file form is ``products.jsonl``: one ACP ``Product`` per
    line, its variants nested, prices as integer minor units. So this feed has one line
    per *product*, not per variant: the spec upserts by ``Product.id``, and splitting a
    product over several lines would make each line replace the others. The schema
    closes every object (``additionalProperties: false``), so what it has no field for is
    left out: ``sku``, ``mpn``, attributes, shipping rates, return days and claim links
    (claims are linked from the JSON-LD); the return policy travels as a seller link.
``flat``
    OpenAI's product feed for file uploads ("Products" reference,
    https://developers.openai.com/commerce/specs/file-upload/products, undated; no JSON
    Schema is published, ours is transcribed under ``schemas/``). One row per variant,
    every value a string in the page's delimited-file encoding (booleans as ``true`` /
    ``false``, ``variant_dict`` as JSON, prices as ``"79.99 USD"`` in major units), and
    written as TSV, one of the upload formats OpenAI lists (it takes them gzipped, as
    ``tsv.gz``; compressing is the uploader's job). It is *not* the ACP feed: the
    ACP feed moved to the nested Product/Variant model, OpenAI's upload format stayed flat.
``jsonld``
    JSON Lines of ``product_jsonld`` documents, one product per line.

Neither feed spec, in the versions used, has an inventory quantity field (OpenAI's older
page required ``inventory_quantity``; its current one and ACP 2026-04-17 have only an
availability status), so exact stock is never asked for; and since renderers only see
views, ``stock_quantity`` (internal) could not be read even by mistake. Variant ids are
used as feed item ids as they are: the catalog already refuses a variant id that another
product of the store uses (``VariantTaken``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ._jsonld import product_jsonld
from ._rendering import clip, decimal_string, image_urls, public_settings, variant_title
from ._storefront import Storefront

__all__ = [
    "ACP_FEED_VERSION",
    "FEED_FORMATS",
    "FLAT_COLUMNS",
    "FLAT_FEED_VERSION",
    "SCHEMAS",
    "FeedFormat",
    "acp_feed_items",
    "flat_feed_items",
    "jsonl",
    "jsonld_feed_items",
    "tsv",
]

ACP_FEED_VERSION = "2026-04-17"
# OpenAI's page carries no version or date; this is the day it was transcribed.
FLAT_FEED_VERSION = "openai-products@2026-11-29"
SCHEMAS = Path(__file__).parent / "schemas"

Claims = Mapping[str, Sequence[str]]
Product = Mapping[str, Any]

# OpenAI's spelling differs from ours (and from ACP's) for pre-orders only.
_FLAT_AVAILABILITY = {"in_stock": "in_stock", "out_of_stock": "out_of_stock", "preorder": "pre_order", "backorder": "backorder"}
# Columns in the order of OpenAI's reference: required first, then by section.
FLAT_COLUMNS = (
    "item_id",
    "title",
    "description",
    "url",
    "brand",
    "seller_name",
    "image_url",
    "availability",
    "price",
    "is_eligible_search",
    "group_id",
    "listing_has_variations",
    "variant_dict",
    "gtin",
    "mpn",
    "product_category",
    "weight",
    "item_weight_unit",
    "additional_image_urls",
    "seller_url",
    "accepts_returns",
    "return_deadline_in_days",
    "return_policy",
    "seller_privacy_policy",
    "seller_tos",
)


def acp_feed_items(products: Iterable[Product], front: Storefront, claims: Claims | None = None) -> Iterator[dict[str, Any]]:
    """One ACP 2026-04-17 ``Product`` per product view, variants nested.

    ``claims`` is accepted so every format renders from the same arguments; the ACP
    schema has no field that could carry a claim link.
    """
    seller = _acp_seller(public_settings(front))
    for product in products:
        yield _acp_product(product, front, seller)


def flat_feed_items(products: Iterable[Product], front: Storefront, claims: Claims | None = None) -> Iterator[dict[str, str]]:
    """One OpenAI flat-feed row per variant: a dict of non-empty strings keyed by
    ``FLAT_COLUMNS`` names.

    A variant without any image is left out: ``image_url`` is required and OpenAI
    rejects a row without it (the variant stays in the ACP and JSON-LD feeds, which do
    not require one). A product without a brand is listed under the seller's name, the
    brand a shopper sees on a store's own goods; without a description, its title is
    the description. ``claims``: as in ``acp_feed_items``, there is no field for them.
    """
    settings = public_settings(front)
    shared = _flat_seller(settings)
    for product in products:
        grouped = len(product["variants"]) > 1
        for variant in product["variants"]:
            row = _flat_row(product, variant, front, settings, grouped)
            if row is not None:
                yield {**row, **shared}


def jsonld_feed_items(products: Iterable[Product], front: Storefront, claims: Claims | None = None) -> Iterator[dict[str, Any]]:
    """``product_jsonld`` of each product: the JSON-LD feed, one document per line."""
    for product in products:
        yield product_jsonld(product, front, claims or {})


def jsonl(items: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """JSON Lines: one compact JSON document per line, each ending in ``\\n``. orjson
    never writes a raw newline inside a document, so a line is always one item."""
    for item in items:
        yield orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE)


def tsv(rows: Iterable[Mapping[str, str]], columns: Sequence[str] = FLAT_COLUMNS) -> Iterator[bytes]:
    """Tab-separated values (IANA ``text/tab-separated-values``): a header line, then one
    line per row, empty cells for absent fields. TSV has no quoting, so a tab or line
    break inside a value (only possible in free text) is written as a space."""
    yield ("\t".join(columns) + "\n").encode()
    for row in rows:
        yield ("\t".join(_cell(row.get(column, "")) for column in columns) + "\n").encode()


def _cell(value: str) -> str:
    return value.replace("\t", " ").replace("\r", " ").replace("\n", " ")


@dataclass(frozen=True)
class FeedFormat:
    """A published feed format: how to render it and what to tell the reader about it."""

    name: str
    media_type: str
    extension: str
    version: str
    source: str
    schema: Path | None
    """The JSON Schema one item validates against (``None``: schema.org has none)."""
    items: Callable[[Iterable[Product], Storefront, Claims | None], Iterator[Mapping[str, Any]]]
    write: Callable[[Iterable[Any]], Iterator[bytes]]

    def render(self, products: Iterable[Product], front: Storefront, claims: Claims | None = None) -> Iterator[bytes]:
        return self.write(self.items(products, front, claims))


FEED_FORMATS: dict[str, FeedFormat] = {
    "acp": FeedFormat(
        name="acp",
        media_type="application/jsonl",
        extension="jsonl",
        version=ACP_FEED_VERSION,
        source="https://github.com/agentic-commerce-protocol/agentic-commerce-protocol/blob/9abf303f48088d170503a54502d612b8b1997897/spec/2026-04-17/json-schema/schema.feed.json",
        schema=SCHEMAS / "acp-2026-04-17.schema.feed.json",
        items=acp_feed_items,
        write=jsonl,
    ),
    "flat": FeedFormat(
        name="flat",
        media_type="text/tab-separated-values; charset=utf-8",
        extension="tsv",
        version=FLAT_FEED_VERSION,
        source="https://developers.openai.com/commerce/specs/file-upload/products",
        schema=SCHEMAS / "openai-products.schema.flat-row.json",
        items=flat_feed_items,
        write=tsv,
    ),
    "jsonld": FeedFormat(
        name="jsonld",
        media_type="application/jsonl",
        extension="jsonl",
        version="schema.org 30.0",
        source="https://schema.org/ProductGroup",
        schema=None,
        items=jsonld_feed_items,
        write=jsonl,
    ),
}


def _acp_product(product: Product, front: Storefront, seller: Mapping[str, Any]) -> dict[str, Any]:
    product_id = product["id"]
    out: dict[str, Any] = {"id": product_id, "title": product["title"]}
    if product.get("description"):
        out["description"] = {"plain": product["description"]}
    out["url"] = product.get("url") or front.product_url(product_id)
    if media := _acp_media(product.get("media", [])):
        out["media"] = media
    categories = [{"value": path, "taxonomy": "merchant"} for path in product.get("categories", [])]
    out["variants"] = [_acp_variant(product, v, front, seller, categories) for v in product["variants"]]
    return out


def _acp_variant(
    product: Product, variant: Mapping[str, Any], front: Storefront, seller: Mapping[str, Any], categories: list[dict[str, str]]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": variant["id"],
        "title": variant_title(product, variant),
        "url": front.variant_url(product["id"], variant["id"]),
    }
    if variant.get("gtin"):
        out["barcodes"] = [{"type": "GTIN", "value": variant["gtin"]}]
    out["price"] = {"amount": variant["price"]["amount_minor"], "currency": variant["price"]["currency"]}
    # Pre-orders and back-orders can be bought now, for later delivery.
    out["availability"] = {"available": variant["availability"] != "out_of_stock", "status": variant["availability"]}
    if categories:
        out["categories"] = categories
    if options := variant.get("options"):
        out["variant_options"] = [{"name": name, "value": value} for name, value in options.items()]
    if media := _acp_media(variant.get("media", [])):
        out["media"] = media
    out["seller"] = seller
    return out


def _acp_media(media: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    out = []
    for item in media:
        entry = {"type": item.get("kind", "image"), "url": item["url"]}
        if item.get("alt"):
            entry["alt_text"] = item["alt"]
        out.append(entry)
    return out


def _acp_seller(settings: Mapping[str, Any]) -> dict[str, Any]:
    seller = settings["seller"]
    links = [
        {"type": kind, "url": url}
        for kind, url in (
            ("terms_of_service", seller.get("terms_url")),
            ("privacy_policy", seller.get("privacy_url")),
            ("refund_policy", settings["returns"].get("url")),
        )
        if url
    ]
    return {"name": seller["name"], "links": links} if links else {"name": seller["name"]}


def _flat_row(
    product: Product, variant: Mapping[str, Any], front: Storefront, settings: Mapping[str, Any], grouped: bool
) -> dict[str, str] | None:
    images = image_urls(variant.get("media", [])) or image_urls(product.get("media", []))
    if not images:
        return None
    price = variant["price"]
    row = {
        "item_id": variant["id"],
        "title": clip(variant_title(product, variant), 150),
        "description": clip(product.get("description") or product["title"], 5000),
        "url": front.variant_url(product["id"], variant["id"]),
        "brand": product.get("brand") or settings["seller"]["name"],
        "image_url": images[0],
        "availability": _FLAT_AVAILABILITY[variant["availability"]],
        "price": f"{decimal_string(price)} {price['currency']}",
        "is_eligible_search": "true",
    }
    # OpenAI: the group id must differ from each item id, or it does not form a group.
    if grouped and product["id"] != variant["id"]:
        row["group_id"] = product["id"]
        row["listing_has_variations"] = "true"
        if options := variant.get("options"):
            row["variant_dict"] = orjson.dumps(options).decode()
    if variant.get("gtin"):
        row["gtin"] = variant["gtin"]
    if variant.get("mpn"):
        row["mpn"] = variant["mpn"]
    if product.get("categories"):
        row["product_category"] = product["categories"][0]
    if variant.get("weight_g"):
        row["weight"] = str(variant["weight_g"])
        row["item_weight_unit"] = "g"
    if len(images) > 1:
        row["additional_image_urls"] = ",".join(url.replace(",", "%2C") for url in images[1:])
    return row


def _flat_seller(settings: Mapping[str, Any]) -> dict[str, str]:
    """The seller and return columns, the same on every row."""
    seller, returns = settings["seller"], settings["returns"]
    out = {"seller_name": seller["name"]}
    if seller.get("url"):
        out["seller_url"] = seller["url"]
    out["accepts_returns"] = "true" if returns["days"] > 0 else "false"
    if returns["days"] > 0:
        out["return_deadline_in_days"] = str(returns["days"])
    if returns.get("url"):
        out["return_policy"] = returns["url"]
    if seller.get("privacy_url"):
        out["seller_privacy_policy"] = seller["privacy_url"]
    if seller.get("terms_url"):
        out["seller_tos"] = seller["terms_url"]
    return out
