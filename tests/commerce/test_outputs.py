"""The published renderings of the catalog: JSON-LD, the three feeds and the discovery
documents. Each is checked against its vendored or transcribed schema, parsed back the
way a consumer would, and searched for values that must never be published."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import jsonschema
import orjson
import pytest
from pyld import jsonld

from chamberlain.commerce._discovery import ACP_SERVICES, acp_discovery, agent_card, llms_txt
from chamberlain.commerce._feeds import (
    ACP_FEED_VERSION,
    FEED_FORMATS,
    FLAT_COLUMNS,
    SCHEMAS,
    acp_feed_items,
    flat_feed_items,
    jsonl,
    jsonld_feed_items,
    tsv,
)
from chamberlain.commerce._jsonld import jsonld_script, product_jsonld
from chamberlain.commerce._model import (
    CatalogSettings,
    Media,
    Product,
    ReturnPolicy,
    Seller,
    ShippingRate,
    TaxRate,
    Variant,
    Visibility,
)
from chamberlain.commerce._rendering import decimal_string
from chamberlain.commerce._storefront import Storefront
from chamberlain.commerce._visibility import view
from chamberlain.money import Money

PUBLIC_URL = "https://gw.example.com"
CLAIM = f"{PUBLIC_URL}/stores/acme/claims/clm_red_price"

# Values that exist only in partner or internal fields, chosen so that they cannot
# occur by accident in a URL, a GTIN or another price.
COST, COST_TEXT = 2718, "27.18"
PARTNER, PARTNER_TEXT = 6161, "61.61"
STOCK = "987654"
SUPPLIER = "Quietly Sourced Ltd"
NOTES = "margin secret ZX-42"
INTERNAL_VALUES = [str(COST), COST_TEXT, STOCK, SUPPLIER, NOTES]


def eur(minor: int) -> Money:
    return Money(amount_minor=minor, currency="EUR")


def image(name: str) -> Media:
    return Media(url=f"https://cdn.example.com/{name}.jpg", alt=name)


SETTINGS = CatalogSettings(
    seller=Seller(
        name="Acme Kitchen",
        url="https://acme.example.com",
        terms_url="https://acme.example.com/terms",
        privacy_url="https://acme.example.com/privacy",
    ),
    returns=ReturnPolicy(days=30, free=False, url="https://acme.example.com/returns"),
    shipping=[
        ShippingRate(country="DE", price=eur(490), free_over=eur(5000), min_days=1, max_days=3),
        ShippingRate(country="FR", price=eur(790), min_days=2, max_days=5),
    ],
    taxes=[TaxRate(country="DE", rate_bp=1900)],
    quote_ttl_s=1200,
)
FRONT = Storefront(tenant="acme", public_url=PUBLIC_URL, settings=SETTINGS)

KETTLE = Product(
    id="kettle",
    title="Electric kettle",
    description="A 1.7 l kettle.\nBoils fast.",
    brand="Acme",
    categories=["Kitchen > Kettles"],
    attributes={"capacity_l": 1.7, "cordless": True},
    url="https://acme.example.com/kettle",
    media=[image("kettle"), image("kettle-side")],
    supplier_notes=NOTES,
    variants=[
        Variant(
            id="kettle-red",
            title="Red",
            price=eur(7999),
            availability="in_stock",
            sku="K-RED",
            gtin="4006381333931",
            mpn="AK-17-R",
            options={"color": "Red", "finish": "Matte"},
            media=[image("kettle-red")],
            weight_g=1200,
            partner_price=eur(PARTNER),
            lead_time_days=3,
            cost=eur(COST),
            supplier=SUPPLIER,
            stock_quantity=int(STOCK),
        ),
        Variant(
            id="kettle-blue",
            title="Blue",
            price=eur(7999),
            availability="backorder",
            options={"color": "Blue", "finish": "Gloss"},
            partner_price=eur(PARTNER),
            cost=eur(COST),
            supplier=SUPPLIER,
            stock_quantity=int(STOCK),
        ),
        Variant(id="kettle-green", title="Green", price=eur(8499), availability="out_of_stock", gtin="96385074"),
        Variant(id="kettle-black", title="Black", price=eur(8499), availability="preorder", gtin="036000291452"),
    ],
)
# A single variant, no GTIN, priced in a currency without a minor unit.
TEAPOT = Product(
    id="teapot",
    title="Cast iron teapot",
    media=[image("teapot")],
    variants=[
        Variant(id="teapot-1", title="Cast iron teapot", price=Money(amount_minor=1500, currency="JPY"), availability="in_stock")
    ],
)
# Three decimal places; no image at all (so no row in the flat feed).
DATES = Product(
    id="dates",
    title="Dates",
    brand="Oasis",
    variants=[Variant(id="dates-1kg", title="1 kg", price=Money(amount_minor=1250, currency="KWD"), availability="in_stock")],
)
PRODUCTS = [KETTLE, TEAPOT, DATES]
CLAIMS = {"kettle-red": [CLAIM]}


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def validate(instance: Any, document: dict[str, Any], ref: str | None = None) -> None:
    """Validate with the draft the schema declares; ``ref`` picks a definition of a bundle."""
    target = document if ref is None else {**document, "$ref": ref}
    cls = jsonschema.validators.validator_for(document)
    cls.check_schema(target)
    cls(target, format_checker=cls.FORMAT_CHECKER).validate(instance)


def views(audience: Visibility) -> list[dict[str, Any]]:
    return [view(p, audience) for p in PRODUCTS]


def every_output(products: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """Every publication, as the text a consumer receives."""
    for p in products:
        doc = product_jsonld(p, FRONT, CLAIMS)
        yield "jsonld", json.dumps(doc)
        yield "script", jsonld_script(doc)
    for name, fmt in FEED_FORMATS.items():
        yield f"feed {name}", b"".join(fmt.render(products, FRONT, CLAIMS)).decode()
    yield "acp.json", json.dumps(acp_discovery(FRONT, services=["checkout"]))
    yield "agent-card.json", json.dumps(agent_card(FRONT, version="0.1.0"))
    yield "llms.txt", llms_txt(FRONT)


# -- what must never be published ------------------------------------------------------


@pytest.mark.parametrize("audience", ["public", "partner", "internal"])
def test_no_internal_value_in_any_output(audience: Visibility) -> None:
    """Renderers copy named fields only, so even a view that holds cost, supplier, stock
    and notes (a mistake upstream) publishes none of them."""
    products = views(audience)
    if audience == "internal":
        assert products[0]["variants"][0]["stock_quantity"] == int(STOCK)  # the view did hold them
    for name, text in every_output(products):
        for secret in INTERNAL_VALUES:
            assert secret not in text, f"{secret!r} leaked into {name} from the {audience} view"


def test_partner_price_absent_from_public_outputs() -> None:
    assert "partner_price" in view(KETTLE, "partner")["variants"][0]
    for audience in ("public", "partner"):
        for name, text in every_output(views(audience)):
            assert PARTNER_TEXT not in text and str(PARTNER) not in text, f"partner price in {name} ({audience} view)"


def test_public_and_partner_views_render_the_same() -> None:
    assert list(every_output(views("partner"))) == list(every_output(views("public")))


# -- JSON-LD ---------------------------------------------------------------------------

# The entries of schema.org's JSON-LD context (release 30.0, schemaorgcontext.jsonld) that
# these documents use; every other term maps through the same @vocab. No network in tests.
SCHEMA_ORG_CONTEXT = {
    "@context": {
        "type": "@type",
        "id": "@id",
        "@vocab": "http://schema.org/",
        "schema": "http://schema.org/",
        "url": {"@id": "schema:url", "@type": "@id"},
        "image": {"@id": "schema:image", "@type": "@id"},
        "merchantReturnLink": {"@id": "schema:merchantReturnLink", "@type": "@id"},
    }
}
S = "http://schema.org/"


def local_loader(url: str, options: Any = None) -> dict[str, Any]:
    assert url.rstrip("/") in ("https://schema.org", "http://schema.org"), url
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url, "document": SCHEMA_ORG_CONTEXT}


class ScriptExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag == "script" and ("type", "application/ld+json") in attrs
        if self._in:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.scripts[-1] += data


def from_page(doc: dict[str, Any]) -> list[Any]:
    page = f"<!doctype html><html><head>{jsonld_script(doc)}</head><body><p>after</p></body></html>"
    parser = ScriptExtractor()
    parser.feed(page)
    return [json.loads(s) for s in parser.scripts]


def flattened(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    graph = jsonld.flatten(doc, None, {"documentLoader": local_loader})
    return {node["@id"]: node for node in graph}


def value(node: dict[str, Any], prop: str) -> Any:
    return node[S + prop][0].get("@value", node[S + prop][0].get("@id"))


def test_jsonld_parses_back_with_prices_availability_and_claims() -> None:
    doc = product_jsonld(view(KETTLE, "public"), FRONT, CLAIMS)
    assert from_page(doc) == [doc]
    nodes = flattened(doc)
    group = nodes[f"{PUBLIC_URL}/stores/acme/products/kettle"]
    assert group["@type"] == [S + "ProductGroup"]
    assert value(group, "productGroupID") == "kettle"
    assert {v["@id"] for v in group[S + "hasVariant"]} == {
        f"{PUBLIC_URL}/stores/acme/products/kettle#{v.id}" for v in KETTLE.variants
    }
    expected = {
        "kettle-red": ("79.99", "https://schema.org/InStock"),
        "kettle-blue": ("79.99", "https://schema.org/BackOrder"),
        "kettle-green": ("84.99", "https://schema.org/OutOfStock"),
        "kettle-black": ("84.99", "https://schema.org/PreOrder"),
    }
    for variant_id, (price, availability) in expected.items():
        node = nodes[f"{PUBLIC_URL}/stores/acme/products/kettle#{variant_id}"]
        assert node["@type"] == [S + "Product"]
        offer = nodes[node[S + "offers"][0]["@id"]]
        assert offer["@type"] == [S + "Offer"]
        assert value(offer, "price") == price
        assert value(offer, "priceCurrency") == "EUR"
        assert value(offer, "availability") == availability
        assert value(offer, "url") == f"{PUBLIC_URL}/stores/acme/products/kettle#{variant_id}"
        claims = [ref["@id"] for ref in node.get(S + "subjectOf", [])]
        assert claims == CLAIMS.get(variant_id, [])
    assert nodes[CLAIM]["@type"] == [S + "DigitalDocument"]


def test_jsonld_offer_terms() -> None:
    red = product_jsonld(view(KETTLE, "public"), FRONT, {})["hasVariant"][0]
    assert red["gtin13"] == "4006381333931" and red["mpn"] == "AK-17-R" and red["sku"] == "K-RED"
    assert red["productID"] == "kettle-red" and red["name"] == "Electric kettle - Red"
    assert red["color"] == "Red"
    assert {"@type": "PropertyValue", "name": "finish", "value": "Matte"} in red["additionalProperty"]
    offer = red["offers"]
    assert offer["seller"] == {"@type": "Organization", "name": "Acme Kitchen", "url": "https://acme.example.com"}
    assert offer["hasMerchantReturnPolicy"] == {
        "@type": "MerchantReturnPolicy",
        "applicableCountry": ["DE", "FR"],
        "returnPolicyCategory": "https://schema.org/MerchantReturnFiniteReturnWindow",
        "merchantReturnDays": 30,
        "returnFees": "https://schema.org/ReturnFeesCustomerResponsibility",
        "merchantReturnLink": "https://acme.example.com/returns",
    }
    germany = offer["shippingDetails"][0]
    assert germany["shippingRate"] == {"@type": "MonetaryAmount", "value": "4.90", "currency": "EUR"}
    assert germany["shippingDestination"] == {"@type": "DefinedRegion", "addressCountry": "DE"}
    assert germany["deliveryTime"]["transitTime"] == {
        "@type": "QuantitativeValue",
        "minValue": 1,
        "maxValue": 3,
        "unitCode": "DAY",
    }
    assert offer["priceSpecification"]["valueAddedTaxIncluded"] is False


def test_jsonld_group_shape() -> None:
    doc = product_jsonld(view(KETTLE, "public"), FRONT, CLAIMS)
    assert doc["@context"] == "https://schema.org"
    assert doc["brand"] == {"@type": "Brand", "name": "Acme"}
    assert doc["url"] == "https://acme.example.com/kettle"
    assert doc["variesBy"] == ["color", "finish"]
    assert {"@type": "PropertyValue", "name": "capacity_l", "value": 1.7} in doc["additionalProperty"]
    gtins = {k: v for variant in doc["hasVariant"] for k, v in variant.items() if k.startswith("gtin")}
    assert gtins == {"gtin13": "4006381333931", "gtin8": "96385074", "gtin12": "036000291452"}


def test_single_variant_product_is_still_a_group_and_gtin_less() -> None:
    doc = product_jsonld(view(TEAPOT, "public"), FRONT, {})
    assert doc["@type"] == "ProductGroup" and "variesBy" not in doc
    [variant] = doc["hasVariant"]
    assert not [k for k in variant if k.startswith("gtin")]
    assert variant["name"] == "Cast iron teapot" and "subjectOf" not in variant
    assert variant["offers"]["price"] == "1500" and variant["offers"]["priceCurrency"] == "JPY"


def test_three_decimal_currency() -> None:
    offer = product_jsonld(view(DATES, "public"), FRONT, {})["hasVariant"][0]["offers"]
    assert (offer["price"], offer["priceCurrency"]) == ("1.250", "KWD")


def test_script_tag_cannot_be_closed_from_inside() -> None:
    hostile = KETTLE.model_copy(update={"description": 'Nice </script><script>alert(1)</script><!-- "quoted" & more'})
    doc = product_jsonld(view(hostile, "public"), FRONT, {})
    script = jsonld_script(doc)
    inner = script.removeprefix('<script type="application/ld+json">').removesuffix("</script>")
    assert "<" not in inner and "</script" not in inner.lower()
    assert from_page(doc) == [doc]


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (7999, "EUR", "79.99"),
        (5, "EUR", "0.05"),
        (0, "USD", "0.00"),
        (1500, "JPY", "1500"),
        (1250, "KWD", "1.250"),
        (5, "KWD", "0.005"),
    ],
)
def test_decimal_string(minor: int, currency: str, text: str) -> None:
    money = Money(amount_minor=minor, currency=currency)
    assert decimal_string(money) == decimal_string(money.model_dump()) == text


# -- feeds -----------------------------------------------------------------------------


def test_acp_items_validate_against_the_vendored_schema() -> None:
    feed = schema("acp-2026-04-17.schema.feed.json")
    items = list(acp_feed_items(views("public"), FRONT, CLAIMS))
    assert [item["id"] for item in items] == ["kettle", "teapot", "dates"]
    for item in items:
        validate(item, feed, "#/$defs/Product")
    validate({"products": items}, feed, "#/$defs/UpsertProductsRequest")
    assert ACP_FEED_VERSION == "2026-04-17"


def test_acp_item_content() -> None:
    [kettle, teapot, dates] = acp_feed_items(views("public"), FRONT, CLAIMS)
    red, blue, green, black = kettle["variants"]
    assert red["price"] == {"amount": 7999, "currency": "EUR"}
    assert red["barcodes"] == [{"type": "GTIN", "value": "4006381333931"}]
    assert red["variant_options"] == [{"name": "color", "value": "Red"}, {"name": "finish", "value": "Matte"}]
    assert red["url"] == f"{PUBLIC_URL}/stores/acme/products/kettle#kettle-red"
    assert [v["availability"] for v in (red, blue, green, black)] == [
        {"available": True, "status": "in_stock"},
        {"available": True, "status": "backorder"},
        {"available": False, "status": "out_of_stock"},
        {"available": True, "status": "preorder"},
    ]
    assert red["seller"]["links"] == [
        {"type": "terms_of_service", "url": "https://acme.example.com/terms"},
        {"type": "privacy_policy", "url": "https://acme.example.com/privacy"},
        {"type": "refund_policy", "url": "https://acme.example.com/returns"},
    ]
    assert kettle["description"] == {"plain": "A 1.7 l kettle.\nBoils fast."}
    assert "barcodes" not in teapot["variants"][0]
    assert teapot["variants"][0]["price"] == {"amount": 1500, "currency": "JPY"}
    assert dates["variants"][0]["price"] == {"amount": 1250, "currency": "KWD"}
    assert "media" not in dates


def test_flat_rows_validate_against_the_transcribed_schema() -> None:
    flat = schema("openai-products.schema.flat-row.json")
    rows = list(flat_feed_items(views("public"), FRONT, CLAIMS))
    for row in rows:
        validate(row, flat)
        assert all(isinstance(v, str) and v for v in row.values())
    assert [r["item_id"] for r in rows] == ["kettle-red", "kettle-blue", "kettle-green", "kettle-black", "teapot-1"]


def test_flat_row_content() -> None:
    rows = {r["item_id"]: r for r in flat_feed_items(views("public"), FRONT, CLAIMS)}
    red, blue, teapot = rows["kettle-red"], rows["kettle-blue"], rows["teapot-1"]
    assert red["price"] == "79.99 EUR" and red["availability"] == "in_stock"
    assert rows["kettle-black"]["availability"] == "pre_order" and blue["availability"] == "backorder"
    assert (red["group_id"], red["listing_has_variations"]) == ("kettle", "true")
    assert json.loads(red["variant_dict"]) == {"color": "Red", "finish": "Matte"}
    assert red["image_url"] == "https://cdn.example.com/kettle-red.jpg"
    assert blue["image_url"] == "https://cdn.example.com/kettle.jpg"
    assert blue["additional_image_urls"] == "https://cdn.example.com/kettle-side.jpg"
    assert (red["gtin"], red["mpn"], red["weight"], red["item_weight_unit"]) == ("4006381333931", "AK-17-R", "1200", "g")
    assert (red["accepts_returns"], red["return_deadline_in_days"]) == ("true", "30")
    assert red["title"] == "Electric kettle - Red" and red["product_category"] == "Kitchen > Kettles"
    assert red["description"] == "A 1.7 l kettle. Boils fast."
    assert "gtin" not in blue
    # One variant: no group; no brand: the seller's name; no description: the title.
    assert "group_id" not in teapot and "variant_dict" not in teapot
    assert (teapot["brand"], teapot["description"], teapot["price"]) == ("Acme Kitchen", "Cast iron teapot", "1500 JPY")
    assert "dates-1kg" not in rows  # no image: OpenAI would reject the row


def test_flat_price_with_three_decimals() -> None:
    pictured = DATES.model_copy(update={"media": [image("dates")]})
    [row] = flat_feed_items([view(pictured, "public")], FRONT)
    assert row["price"] == "1.250 KWD"


def test_tsv_round_trip() -> None:
    flat = schema("openai-products.schema.flat-row.json")
    rows = list(flat_feed_items(views("public"), FRONT))
    lines = b"".join(tsv(rows)).decode().split("\n")
    assert lines[-1] == "" and tuple(lines[0].split("\t")) == FLAT_COLUMNS
    parsed = [{k: v for k, v in zip(FLAT_COLUMNS, line.split("\t"), strict=True) if v} for line in lines[1:-1]]
    assert parsed == rows
    for row in parsed:
        validate(row, flat)
    tricky = list(tsv([{"item_id": "a\tb", "title": "one\r\ntwo"}]))
    assert tricky[1] == b"a b\tone  two" + b"\t" * (len(FLAT_COLUMNS) - 2) + b"\n"


def test_jsonl_is_one_item_per_line() -> None:
    lines = list(jsonl(acp_feed_items(views("public"), FRONT)))
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert [orjson.loads(line)["id"] for line in lines] == ["kettle", "teapot", "dates"]


def test_jsonld_feed() -> None:
    lines = b"".join(FEED_FORMATS["jsonld"].render(views("public"), FRONT, CLAIMS)).decode().splitlines()
    docs = [json.loads(line) for line in lines]
    assert docs == list(jsonld_feed_items(views("public"), FRONT, CLAIMS))
    assert [d["@type"] for d in docs] == ["ProductGroup"] * 3


def test_feed_formats_describe_themselves() -> None:
    assert set(FEED_FORMATS) == {"acp", "flat", "jsonld"}
    for name, fmt in FEED_FORMATS.items():
        assert fmt.name == name and fmt.media_type and fmt.extension and fmt.version and fmt.source.startswith("https://")
        assert fmt.schema is None or fmt.schema.is_file()
    assert FEED_FORMATS["flat"].media_type.startswith("text/tab-separated-values")


# -- discovery -------------------------------------------------------------------------


def test_acp_discovery_validates_and_names_no_tenant() -> None:
    discovery = schema("acp-2026-04-17.schema.discovery.json")
    for services in ((), ("checkout",), ACP_SERVICES):
        doc = acp_discovery(FRONT, services=services)
        validate(doc, discovery)
        assert doc["protocol"]["version"] == ACP_FEED_VERSION
        assert "acme" not in json.dumps(doc)  # a platform's document must not enumerate its sellers
    with pytest.raises(ValueError):
        acp_discovery(FRONT, services=["feeds"])
    with pytest.raises(ValueError):
        acp_discovery(FRONT, version="2025-09-29")


def test_agent_card_validates_against_a2a_schemas() -> None:
    card = agent_card(FRONT, version="0.1.0")
    validate(card, schema("a2a-0.3.0.schema.agent-card.json"))
    validate(card, schema("a2a-1.0.schema.agent-card.json"))
    assert card["protocolVersion"] == "0.3.0" and card["version"] == "0.1.0"
    assert card["url"] == f"{PUBLIC_URL}/mcp"
    assert {s["id"] for s in card["skills"]} == {
        "catalog-search",
        "quotes",
        "product-data",
        "claims-verification",
        "cart-checkout",
    }
    assert all(s["tags"] and s["examples"] for s in card["skills"])
    assert "20 minutes" in next(s["description"] for s in card["skills"] if s["id"] == "quotes")


def urls_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from urls_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from urls_in(v)
    elif isinstance(value, str) and value.startswith("https://") and "://" in value:
        yield value


def test_discovery_documents_hold_only_public_urls() -> None:
    allowed = (PUBLIC_URL, "https://acme.example.com", "https://modelcontextprotocol.io/")
    for doc in (agent_card(FRONT, version="0.1.0"), acp_discovery(FRONT)):
        for url in urls_in(doc):
            assert url.startswith(allowed), url


def test_llms_txt_follows_the_proposal() -> None:
    text = llms_txt(FRONT)
    lines = text.splitlines()
    assert lines[0] == "# Acme Kitchen" and lines[1] == "" and lines[2].startswith("> ")
    sections = [line[3:] for line in lines if line.startswith("## ")]
    assert sections == ["Agent endpoints", "Product data", "Claims", "Policies", "Discovery", "Optional"]
    assert not [line for line in lines[1:] if line.startswith("# ")]
    for needed in (
        f"]({PUBLIC_URL}/mcp)",
        f"]({PUBLIC_URL}/v1/catalog/search)",
        f"]({PUBLIC_URL}/v1/quotes)",
        f"]({PUBLIC_URL}/stores/acme/feeds/acp)",
        f"]({PUBLIC_URL}/stores/acme/feeds/flat)",
        f"]({PUBLIC_URL}/stores/acme/feeds/jsonld)",
        f"]({PUBLIC_URL}/stores/acme/keys/claims)",
        f"]({PUBLIC_URL}/v1/claims/verify)",
        "](https://acme.example.com/returns)",
        "](https://acme.example.com/terms)",
        f"]({PUBLIC_URL}/openapi.json)",
        "DE 4.90 EUR (free from 50.00 EUR), 1-3 days",
    ):
        assert needed in text, needed


def test_llms_txt_escapes_the_seller_name() -> None:
    evil = SETTINGS.model_copy(update={"seller": Seller(name="Evil](https://phish.example.com)\n# Owned")})
    text = llms_txt(Storefront(tenant="acme", public_url=PUBLIC_URL, settings=evil))
    assert not re.search(r"(?<!\\)\]\(https://phish", text) and "\n# Owned" not in text
    assert text.startswith("# Evil\\](https://phish.example.com) # Owned\n")
