"""A store's public surface over real HTTP: documents anyone may read, claims anyone may
verify, and no internal field through any of it."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from chamberlain.app import create_app
from chamberlain.cli import main
from chamberlain.demo import seed, shop
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime, permit_all
from tests.helpers import free_port, mcp_session, serve_in_thread

STORE = "acme-shop"
INTERNAL_VALUES = ("Kettleworks GmbH", "Reorder at 10 units", "stock_quantity", '"cost"', "supplier_notes", "partner_price")
SHOPPER = ["catalog.search", "catalog.products.get", "quotes.create", "cart.create", "checkout.complete"]


class Shop:
    def __init__(self, base: str, data: Path, tokens: dict[str, str]) -> None:
        self.base, self.data, self.tokens = base, data, tokens


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    data = tmp_path_factory.mktemp("store")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = {"public_url": base, "store_tenant": STORE}

    async def prepare() -> dict[str, str]:
        rt = make_runtime(shop, data, **settings)
        async with rt.running():
            tenants = await seed(rt)
            await create_tenant(rt.store, rt.keys, "quiet", "No storefront")
            for tenant in tenants:
                await permit_all(rt, tenant.id)
            return {
                "ops": tenants[0].grant.token,
                "shopper": await issue(rt, STORE, SHOPPER, principal="agent:shopper"),
            }

    tokens = asyncio.run(prepare())
    with serve_in_thread(create_app(make_runtime(shop, data, **settings)), port):
        yield Shop(base, data, tokens)


@pytest.fixture
def http(shop_server: Shop) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop_server.base, timeout=10) as client:
        yield client


def call(http: httpx.Client, token: str, action: str, arguments: dict[str, Any]) -> Any:
    response = http.post(f"/v1/actions/{action}", json=arguments, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()["result"]


def issued_claim(http: httpx.Client, shop_server: Shop, kind: str = "price") -> dict[str, Any]:
    return call(http, shop_server.tokens["ops"], "claims.issue", {"variant_id": "v_kettle_steel", "kind": kind})


def test_product_json_ld_is_public_cacheable_and_links_claims(http: httpx.Client, shop_server: Shop) -> None:
    claim = issued_claim(http, shop_server)
    page = http.get(f"/stores/{STORE}/products/p_kettle")
    assert page.status_code == 200 and page.headers["content-type"].startswith("application/ld+json")
    assert "max-age" in page.headers["cache-control"]
    assert claim["id"] in page.text
    again = http.get(f"/stores/{STORE}/products/p_kettle", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304


def test_every_public_document_leaves_internal_fields_out(http: httpx.Client, shop_server: Shop) -> None:
    issued_claim(http, shop_server, "specification")
    paths = [
        f"/stores/{STORE}/products/p_kettle",
        f"/stores/{STORE}/products/p_teapot",
        f"/stores/{STORE}/feeds/acp.jsonl",
        f"/stores/{STORE}/feeds/flat.tsv",
        f"/stores/{STORE}/feeds/jsonld.jsonl",
        f"/stores/{STORE}/claims?variant=v_kettle_steel",
        f"/stores/{STORE}/keys/claims",
        f"/stores/{STORE}/.well-known/acp.json",
        f"/stores/{STORE}/.well-known/agent-card.json",
        f"/stores/{STORE}/llms.txt",
        "/.well-known/acp.json",
        "/.well-known/agent-card.json",
        "/llms.txt",
    ]
    claims = http.get(f"/stores/{STORE}/claims?variant=v_kettle_steel").json()["claims"]
    paths += [url.removeprefix(shop_server.base) for url in claims]
    for path in paths:
        response = http.get(path)
        assert response.status_code == 200, (path, response.text)
        leaked = [value for value in INTERNAL_VALUES if value in response.text]
        assert not leaked, (path, leaked)
    shopper = {"Authorization": f"Bearer {shop_server.tokens['shopper']}"}
    for path, body in (
        ("/v1/catalog/search", {"category": "Kitchen"}),
        ("/v1/quotes", {"items": [{"variant_id": "v_kettle_steel"}], "ships_to": "DE"}),
        ("/v1/actions/catalog.products.get", {"product_id": "p_kettle"}),
    ):
        response = http.post(path, json=body, headers=shopper)
        assert response.status_code in (200, 201), (path, response.text)
        assert not [value for value in INTERNAL_VALUES if value in response.text], path


async def test_mcp_tools_and_resources_leave_internal_fields_out(shop_server: Shop) -> None:
    async with mcp_session(shop_server.base + "/mcp", shop_server.tokens["shopper"]) as s:
        answers = [
            await s.call_tool("catalog.products.get", {"product_id": "p_kettle"}),
            await s.call_tool("catalog.search", {"text": "kettle"}),
            await s.read_resource("catalog://products/p_kettle"),  # type: ignore[arg-type]
        ]
    for answer in answers:
        text = answer.model_dump_json()
        assert "Electric kettle" in text and not [v for v in INTERNAL_VALUES if v in text]


def test_unpublished_and_unknown_stores_look_the_same(http: httpx.Client) -> None:
    for store in ("quiet", "no-such-store", "-not-a-handle"):
        response = http.get(f"/stores/{store}/feeds/acp.jsonl")
        assert response.status_code == 404 and response.json()["detail"] == "no such store"
    assert http.get(f"/stores/{STORE}/feeds/nope").status_code == 404


def test_claims_verify_over_rest_and_reject_tampering(http: httpx.Client, shop_server: Shop) -> None:
    claim = issued_claim(http, shop_server)
    verified = http.post("/v1/claims/verify", json={"credential": claim}).json()
    assert verified["verified"], verified
    forged = copy.deepcopy(claim)
    forged["credentialSubject"]["price"]["amount_minor"] = 1
    refused = http.post("/v1/claims/verify", json={"credential": forged}).json()
    assert not refused["verified"] and refused["problems"]
    key = http.get(f"/stores/{STORE}/keys/claims").json()
    assert http.post("/v1/claims/verify", json={"credential": claim, "key": key}).json()["verified"]
    elsewhere = copy.deepcopy(claim)
    elsewhere["proof"]["verificationMethod"] = "https://attacker.example/key"
    answer = http.post("/v1/claims/verify", json={"credential": elsewhere})
    assert answer.status_code == 422  # the gateway never fetches a URL it was handed
    assert http.post("/v1/claims/verify", json={"nope": 1}).status_code == 422


@pytest.mark.parametrize("key", [["z6Mk"], 1.5, True])
def test_claims_verify_refuses_a_key_that_is_neither_text_nor_a_document(
    http: httpx.Client, shop_server: Shop, key: object
) -> None:
    """verify_credential raises TypeError on such a key: it was a plain-text 500."""
    answer = http.post("/v1/claims/verify", json={"credential": issued_claim(http, shop_server), "key": key})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["loc"] == ["key"]


def test_the_cli_verifies_a_claim_by_fetching_the_stores_key(http: httpx.Client, shop_server: Shop, tmp_path: Path) -> None:
    claim = issued_claim(http, shop_server, "availability")
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(claim))
    result = CliRunner().invoke(main, ["claims", "verify", str(path)])
    assert result.exit_code == 0, result.output
    claim["credentialSubject"]["availability"] = "out_of_stock"
    path.write_text(json.dumps(claim))
    assert CliRunner().invoke(main, ["claims", "verify", str(path)]).exit_code == 1


def test_search_over_rest_pages_and_refuses_bad_input(http: httpx.Client, shop_server: Shop) -> None:
    shopper = {"Authorization": f"Bearer {shop_server.tokens['shopper']}"}
    page = http.post("/v1/catalog/search", json={"sort": "price_desc", "limit": 1}, headers=shopper).json()["result"]
    assert page["results"][0]["variant_id"] == "v_kettle_black" and page["next_cursor"]
    bad = http.post("/v1/catalog/search", json={"limit": 1000}, headers=shopper)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert http.post("/v1/catalog/search", json={}).status_code == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [("availability", ["in_stock"] * 5), ("attributes", {f"a{n}": n for n in range(21)})],
)
def test_search_refuses_filters_past_the_querys_bounds_as_input(
    http: httpx.Client, shop_server: Shop, field: str, value: object
) -> None:
    """The action's arguments once allowed more than SearchQuery does: the query then
    failed inside the handler, a 500 "output contract" error instead of a 422."""
    shopper = {"Authorization": f"Bearer {shop_server.tokens['shopper']}"}
    for path in ("/v1/catalog/search", "/v1/actions/catalog.search"):
        bad = http.post(path, json={field: value}, headers=shopper)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid-input", bad.text
        assert bad.json()["errors"][0]["loc"] == [field]


@pytest.mark.parametrize("format", ["acp", "flat", "jsonld"])
def test_catalog_export_writes_what_the_store_serves(http: httpx.Client, shop_server: Shop, tmp_path: Path, format: str) -> None:
    out = tmp_path / f"feed.{format}"
    env = {"CHAMBERLAIN_PUBLIC_URL": shop_server.base}
    args = ["catalog", "export", "--tenant", STORE, "--format", format, "-o", str(out), "--data-dir", str(shop_server.data)]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == http.get(f"/stores/{STORE}/feeds/{format}").content
    quiet = CliRunner().invoke(main, [*args[:3], "quiet", *args[4:]], env=env)
    assert quiet.exit_code == 1 and "has not published a storefront" in quiet.output
