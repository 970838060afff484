"""The catalog through the governed pipeline: changes audited with events, reads by
audience, position-neutral search, quotes honoured at checkout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

from chamberlain.app import Runtime
from chamberlain.commerce import Product, field_classes
from chamberlain.commerce.claims import verify_credential
from chamberlain.demo import catalog as demo
from chamberlain.pipeline import Call
from chamberlain.store import audit_entries, events, quotes, tenant_transaction
from tests.conftest import issue, new_key, permit_all

SHOPPER = ["catalog.search", "catalog.products.get", "quotes.create", "cart.create", "checkout.complete"]
INTERNAL_VALUES = ("Kettleworks GmbH", "Reorder at 10 units", '"stock_quantity"', '"cost"', '"supplier"')


async def run(rt: Runtime, token: str, action: str, arguments: Any, key: str | None = None) -> Any:
    outcome = await rt.gateway.call(Call(action, arguments, token, "test", idempotency_key=key or new_key()))
    return outcome


def reason(outcome: Any) -> str:
    """The business's own code for a refusal (``ActionError(code=...)``)."""
    assert outcome.error is not None, outcome.result
    return str(outcome.error.extra.get("reason", outcome.error.code))


async def ok(rt: Runtime, token: str, action: str, arguments: Any) -> Any:
    outcome = await run(rt, token, action, arguments)
    assert outcome.error is None, outcome.error
    return outcome.result


async def stocked(rt: Runtime, tenant: str = "acme", currency: str = "EUR") -> str:
    """The demo catalog put in through the governed actions, by an internal grant."""
    await permit_all(rt, tenant)
    token = await issue(rt, tenant)
    await ok(rt, token, "catalog.settings.put", {"settings": demo.TERMS["acme-shop"]})
    for product in demo.products("acme-shop", currency):
        await ok(rt, token, "catalog.products.put", {"product": product.model_dump(mode="json")})
    return token


async def test_changes_are_audited_and_emit_events(runtime: Runtime) -> None:
    await stocked(runtime)
    kinds = [
        r["kind"] for r in await runtime.store.fetch_all(select(audit_entries.c.kind).where(audit_entries.c.tenant_id == "acme"))
    ]
    assert kinds.count("call.executed") >= 4
    types = [r["type"] for r in await runtime.store.fetch_all(select(events.c.type).where(events.c.tenant_id == "acme"))]
    assert types.count("catalog.product_changed") == 3 and types.count("catalog.settings_changed") == 1


async def test_each_audience_sees_its_fields_and_no_more(runtime: Runtime) -> None:
    internal = await stocked(runtime)
    partner = await issue(runtime, "acme", [*SHOPPER, "visibility.partner"])
    public = await issue(runtime, "acme", SHOPPER)
    seen = {
        name: await ok(runtime, token, "catalog.products.get", {"product_id": "p_kettle"})
        for name, token in (("internal", internal), ("partner", partner), ("public", public))
    }
    assert seen["internal"]["variants"][0]["supplier"] == "Kettleworks GmbH"
    assert "partner_price" in seen["partner"]["variants"][0] and "cost" not in seen["partner"]["variants"][0]
    assert "partner_price" not in seen["public"]["variants"][0]
    for name in ("public", "partner"):
        text = orjson.dumps(seen[name]).decode()
        assert not any(value in text for value in INTERNAL_VALUES), name


def test_every_field_has_a_class_and_the_internal_ones_are_marked() -> None:
    classes = field_classes(Product)
    internal = sorted(
        path for path, level in classes.items() if level == "internal" and "." not in path.removeprefix("variants.")
    )
    assert internal == ["supplier_notes", "variants.cost", "variants.stock_quantity", "variants.supplier"]
    assert classes["variants.cost.amount_minor"] == "internal"  # inside an internal field, internal too


async def test_search_filters_orders_and_pages_deterministically(runtime: Runtime) -> None:
    await stocked(runtime)
    public = await issue(runtime, "acme", SHOPPER)
    page = await ok(runtime, public, "catalog.search", {"category": "Kitchen", "sort": "price_asc", "limit": 2})
    assert [h["variant_id"] for h in page["results"]] == ["v_mugs", "v_teapot"] and page["total"] == 4
    rest = await ok(
        runtime, public, "catalog.search", {"category": "Kitchen", "sort": "price_asc", "limit": 2, "cursor": page["next_cursor"]}
    )
    assert [h["variant_id"] for h in rest["results"]] == ["v_kettle_steel", "v_kettle_black"] and rest["next_cursor"] is None
    found = await ok(
        runtime,
        public,
        "catalog.search",
        {"attributes": {"color": "black"}, "availability": ["backorder"], "price": {"currency": "EUR", "max_minor": 5000}},
    )
    assert [h["variant_id"] for h in found["results"]] == ["v_kettle_black"]
    assert (await ok(runtime, public, "catalog.search", {"ships_to": "US"}))["total"] == 0
    assert (await ok(runtime, public, "catalog.search", {"text": "KETTLE steel"}))["total"] == 1
    assert not any(v in orjson.dumps(page).decode() for v in INTERNAL_VALUES)
    wrong = await run(runtime, public, "catalog.search", {"sort": "title_asc", "cursor": page["next_cursor"]})
    assert reason(wrong) == "bad-cursor"
    for forged in ("eyJzb3J0IjoicHJpY2VfYXNjIiwiYWZ0ZXIiOlsxLCJhIl19", "not base64!", "e30"):  # [1,"a"], junk, {}
        assert reason(await run(runtime, public, "catalog.search", {"cursor": forged})) == "bad-cursor"
    stranger = await issue(runtime, "globex", SHOPPER)  # another tenant's agent sees none of it
    assert (await ok(runtime, stranger, "catalog.search", {}))["total"] == 0
    assert reason(await run(runtime, stranger, "catalog.products.get", {"product_id": "p_kettle"})) == "product-not-found"
    refused = await run(runtime, stranger, "quotes.create", {"items": [{"variant_id": "v_teapot"}], "ships_to": "DE"})
    assert reason(refused) == "no-storefront"


async def test_a_quote_is_signed_and_checkout_honours_it_until_it_expires(runtime: Runtime) -> None:
    internal = await stocked(runtime)
    shopper = await issue(runtime, "acme", SHOPPER)
    quote = await ok(
        runtime, shopper, "quotes.create", {"items": [{"variant_id": "v_kettle_steel", "quantity": 1}], "ships_to": "DE"}
    )
    subject = quote["credentialSubject"]
    assert subject["total"] == {"amount_minor": 3999 + 490, "currency": "EUR"}  # under 50.00: shipping is paid
    key = await runtime.commerce.claims.key_document(await runtime.commerce.storefront("acme"))
    assert verify_credential(quote, key).verified
    # The price goes up after the quote: checkout still charges the quoted total.
    dearer = demo.products("acme-shop", "EUR")[0].model_dump(mode="json")
    dearer["variants"][0]["price"]["amount_minor"] = 5999
    await ok(runtime, internal, "catalog.products.put", {"product": dearer})
    cart = await ok(runtime, shopper, "cart.create", {"quote_id": subject["quote_id"]})
    wrong = await run(
        runtime, shopper, "checkout.complete", {"cart_id": cart["cart_id"], "amount": {"amount_minor": 5999, "currency": "EUR"}}
    )
    assert reason(wrong) == "amount-mismatch"
    done = await ok(runtime, shopper, "checkout.complete", {"cart_id": cart["cart_id"], "amount": subject["total"]})
    assert done["status"] == "completed" and done["order_id"].startswith("ord_")
    again = await run(runtime, shopper, "checkout.complete", {"cart_id": cart["cart_id"], "amount": subject["total"]})
    assert reason(again) == "cart-not-open"
    # An expired quote is refused.
    other = await ok(runtime, shopper, "quotes.create", {"items": [{"variant_id": "v_teapot"}], "ships_to": "FR"})
    async with tenant_transaction(runtime.store, "acme") as tx:
        await tx.execute(
            update(quotes).where(quotes.c.id == other["credentialSubject"]["quote_id"]).values(expires_at="2000-01-01T00:00:00Z")
        )
    late = await run(runtime, shopper, "cart.create", {"quote_id": other["credentialSubject"]["quote_id"]})
    assert reason(late) == "quote-expired"


async def test_quote_totals_add_shipping_and_tax(runtime: Runtime) -> None:
    await stocked(runtime)
    shopper = await issue(runtime, "acme", SHOPPER)
    two = await ok(runtime, shopper, "quotes.create", {"items": [{"variant_id": "v_teapot", "quantity": 2}], "ships_to": "FR"})
    s = two["credentialSubject"]
    # 2 x 24.50 + 7.90 shipping, prices include 20% VAT: the tax is the included share.
    assert s["subtotal"]["amount_minor"] == 4900 and s["shipping"]["amount_minor"] == 790
    assert s["total"]["amount_minor"] == 5690 and s["tax"]["amount_minor"] == 948
    free = await ok(runtime, shopper, "quotes.create", {"items": [{"variant_id": "v_teapot", "quantity": 3}], "ships_to": "DE"})
    assert free["credentialSubject"]["shipping"]["amount_minor"] == 0  # over 50.00 to DE
    for items, ships_to, code in (
        ([{"variant_id": "nope"}], "DE", "offer-not-found"),
        ([{"variant_id": "v_teapot"}], "US", "does-not-ship-there"),
    ):
        refused = await run(runtime, shopper, "quotes.create", {"items": items, "ships_to": ships_to})
        assert reason(refused) == code
    assert (await runtime.store.fetch_all(select(quotes.c.id).where(quotes.c.tenant_id == "acme"))).__len__() == 2


async def test_a_grant_caps_what_checkout_may_pay(runtime: Runtime) -> None:
    await stocked(runtime)
    cap = ["checkout.complete: amount.amount_minor <= 3000"]
    capped = (await runtime.authority.issue("acme", "agent:shopper", SHOPPER, timedelta(hours=1), constraints=cap)).token
    quote = await ok(runtime, capped, "quotes.create", {"items": [{"variant_id": "v_kettle_steel"}], "ships_to": "DE"})
    cart = await ok(runtime, capped, "cart.create", {"quote_id": quote["credentialSubject"]["quote_id"]})
    over = await run(
        runtime, capped, "checkout.complete", {"cart_id": cart["cart_id"], "amount": quote["credentialSubject"]["total"]}
    )
    assert over.error is not None and over.error.code == "constraint-violated"


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "p x", "title": "t", "variants": []},
        {
            "id": "p",
            "title": "t",
            "variants": [
                {
                    "id": "v",
                    "title": "t",
                    "price": {"amount_minor": 1, "currency": "EUR"},
                    "availability": "in_stock",
                    "gtin": "4006381333932",
                }
            ],
        },
    ],
)
async def test_bad_products_are_refused_and_nothing_is_written(runtime: Runtime, bad: dict[str, Any]) -> None:
    token = await stocked(runtime)
    refused = await run(runtime, token, "catalog.products.put", {"product": bad})
    assert refused.error is not None and refused.error.code == "invalid-input"
    assert await runtime.commerce.catalog.product("acme", bad["id"]) is None


async def test_a_variant_id_cannot_move_between_products(runtime: Runtime) -> None:
    token = await stocked(runtime)
    thief = demo.products("acme-shop", "EUR")[1].model_dump(mode="json")
    thief["variants"][0]["id"] = "v_kettle_steel"
    refused = await run(runtime, token, "catalog.products.put", {"product": thief})
    assert reason(refused) == "variant-taken"
