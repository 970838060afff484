"""A shopping agent, end to end, over MCP: it compares the same kettle at two stores,
trusts only what it can verify, and buys within a grant that caps what it may pay.

    python examples/shopping_agent.py

1. The operator of each store gives the agent a grant (``chamberlain grant issue``):
   search, quote, cart and checkout, and ``checkout.complete`` only up to 60.00.
2. The agent searches each store for the kettle's barcode (``catalog.search``), asks
   each for a landed-cost quote to Germany (``quotes.create``), and verifies each quote's
   signature offline against the key the store publishes at the proof's
   ``verificationMethod``. A quote that does not verify is dropped.
3. It picks the cheapest verified total (in EUR, by its own exchange rate), opens a cart
   on that quote (``cart.create``) and pays exactly the quoted total
   (``checkout.complete``, with an idempotency key so a retry can never pay twice).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from _demo_gateway import CLI, demo_gateway
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from chamberlain.commerce.claims import verify_credential

KETTLE_GTIN = "4006381333931"
SHIPS_TO = "DE"
CAP_MINOR = 6000
EUR_PER = {"EUR": 1.0, "USD": 0.92}
"""The agent's own exchange rates for comparing totals (not the stores')."""
STORES = ("acme-shop", "globex-store")


def say(who: str, text: str) -> None:
    print(f"[{who:>8}] {text}", flush=True)


def grant_for(store: str, data: Path) -> str:
    """The operator's step: a grant for the shopping agent, capped at CAP_MINOR."""
    args = ["grant", "issue", "--tenant", store, "--principal", "agent:shopper", "--on-behalf-of", "user:ada"]
    args += ["--actions", "catalog.search,quotes.create,cart.create,checkout.complete", "--ttl", "15m"]
    args += ["--constraint", f"checkout.complete: amount.amount_minor <= {CAP_MINOR}", "--json", "--data-dir", str(data)]
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, check=True)
    return str(json.loads(done.stdout)["token"])


class Store:
    """One store as the agent sees it: an MCP session with that store's grant."""

    def __init__(self, name: str, session: ClientSession) -> None:
        self.name = name
        self.session = session

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        result = await self.session.call_tool(tool, arguments)
        if result.is_error:
            raise RuntimeError(f"{self.name} refused {tool}: {result.structured_content}")
        return result.structured_content


async def quote_from(store: Store, http: httpx.AsyncClient) -> dict[str, Any] | None:
    page = await store.call("catalog.search", {"gtin": KETTLE_GTIN, "ships_to": SHIPS_TO})
    if not page["results"]:
        say(store.name, "does not sell it to " + SHIPS_TO)
        return None
    offer = page["results"][0]
    say(store.name, f"offers {offer['title']} at {offer['price']['amount_minor'] / 100:.2f} {offer['price']['currency']}")
    quote = await store.call("quotes.create", {"items": [{"variant_id": offer["variant_id"]}], "ships_to": SHIPS_TO})
    key = (await http.get(quote["proof"]["verificationMethod"])).raise_for_status().json()
    checked = verify_credential(quote, key)
    total = quote["credentialSubject"]["total"]
    say(
        store.name,
        f"quote {quote['credentialSubject']['quote_id']}: {total['amount_minor'] / 100:.2f} {total['currency']} landed, "
        + ("signature verified" if checked.verified else f"NOT verified: {checked.problems}"),
    )
    return quote if checked.verified else None


@asynccontextmanager
async def visit(base: str, name: str, token: str) -> AsyncIterator[Store]:
    """An MCP session with one store, under that store's grant."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        async with streamable_http_client(base + "/mcp", http_client=client) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield Store(name, session)


def in_eur(quote: dict[str, Any]) -> float:
    total = quote["credentialSubject"]["total"]
    return float(total["amount_minor"]) * EUR_PER[total["currency"]]


async def shop(base: str, grants: dict[str, str]) -> dict[str, Any]:
    quotes: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for name, token in grants.items():
            async with visit(base, name, token) as store:
                quote = await quote_from(store, http)
            if quote is not None:
                quotes[name] = quote
    if not quotes:
        raise SystemExit("no verified offer")
    name = min(quotes, key=lambda n: in_eur(quotes[n]))
    subject = quotes[name]["credentialSubject"]
    say("agent", f"cheapest verified: {name} ({in_eur(quotes[name]) / 100:.2f} EUR by my rates)")
    async with visit(base, name, grants[name]) as store:
        cart = await store.call("cart.create", {"quote_id": subject["quote_id"]})
        paid = {"cart_id": cart["cart_id"], "amount": subject["total"], "idempotency_key": str(uuid.uuid4())}
        order: dict[str, Any] = await store.call("checkout.complete", paid)
    say(name, f"order {order['order_id']} placed: {order['total']['amount_minor'] / 100:.2f} {order['total']['currency']}")
    return order


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, demo_gateway(Path(tmp) / "demo") as (base, _):
        data = Path(tmp) / "demo"
        grants = {store: grant_for(store, data) for store in STORES}
        say("operator", f"issued capped grants (checkout.complete up to {CAP_MINOR / 100:.2f}) in {', '.join(STORES)}")
        order = asyncio.run(shop(base, grants))
        return 0 if order["status"] == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
