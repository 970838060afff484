"""MCP ``subscriptions/listen``: resource updates from the tenant's events, driven by the
official SDK client on the 2026-07-28 revision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from mcp import MCPError
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourceUpdated, Subscription, SubscriptionLost

from tests.conftest import new_key
from tests.events.conftest import ACME, GLOBEX, Server, refund
from tests.surfaces.rest.test_rest import bearer

BIG = {"order_id": "o_1006", "amount": {"amount_minor": 12_000, "currency": "EUR"}, "reason": "never arrived"}


@asynccontextmanager
async def client(server: Server, token: str) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(headers=bearer(token), timeout=10) as http:
        async with Client(streamable_http_client(server.base + "/mcp", http_client=http), mode="2026-07-28") as c:
            yield c


async def next_update(sub: Subscription) -> ResourceUpdated:
    event = await asyncio.wait_for(anext(sub), 10)
    assert isinstance(event, ResourceUpdated)
    return event


def structured(result: Any) -> dict[str, Any]:
    return dict(result.structured_content)


async def test_a_parked_call_tells_the_listening_agent_when_a_human_decides(server: Server) -> None:
    async with client(server, server.grants[ACME]) as agent:
        parked = structured(await agent.call_tool("orders.refund", {**BIG, "idempotency_key": new_key()}))
        assert parked["status"] == "pending_approval"
        (uri,) = parked["follow"]["listen"]["resource_subscriptions"]
        async with agent.listen(resource_subscriptions=[uri]) as sub:
            assert sub.honored.resource_subscriptions == [uri]
            rita = await asyncio.to_thread(server.issue, ACME, ["calls.read"], principal="human:rita")
            async with httpx.AsyncClient(base_url=server.base, headers=bearer(rita)) as http:
                decided = await http.post(f"/v1/approvals/{parked['approval']['id']}/approve", json={"reason": "lost"})
                assert decided.json()["status"] == "executed", decided.text
            assert (await next_update(sub)).uri == uri
        record = await agent.read_resource(uri)
        done = orjson.loads(record.contents[0].text)  # type: ignore[union-attr]
        assert done["outcome"] == "ok" and done["approval"]["status"] == "executed"


async def test_a_resource_is_updated_by_events_about_its_subject_in_its_own_tenant(server: Server) -> None:
    acme, globex = server.grants[ACME], server.grants[GLOBEX]
    async with client(server, globex) as theirs:
        # Both tenants have an order o_1005: the same URI names a different order in each.
        async with theirs.listen(resource_subscriptions=["shop://orders/o_1005", "shop://orders/o_1004"]) as sub:
            with httpx.Client(base_url=server.base, timeout=10) as http:
                refund(http, acme, order="o_1005")
                body = {"order_id": "o_1004", "amount": {"amount_minor": 1, "currency": "USD"}, "reason": "test"}
                keyed = {**bearer(globex), "Idempotency-Key": new_key()}
                assert http.post("/v1/actions/orders.refund", json=body, headers=keyed).status_code == 200
            assert (await next_update(sub)).uri == "shop://orders/o_1004", "acme's refund of its o_1005 is not globex's"


async def test_listening_is_refused_for_what_the_grant_cannot_read(server: Server) -> None:
    async with client(server, server.grants[ACME]) as acme:
        parked = structured(await acme.call_tool("orders.refund", {**BIG, "idempotency_key": new_key()}))
    call_uri = parked["follow"]["resource"]
    narrow = await asyncio.to_thread(server.issue, ACME, ["catalog.list_products"])
    cases = [
        (server.grants[GLOBEX], [call_uri], "call-not-found"),  # another tenant's call
        (narrow, ["shop://orders/o_1001"], None),  # an action the grant does not cover
        (server.grants[ACME], ["shop://nothing/here"], None),
        (server.grants[ACME], ["chamberlain://calls/call_nope"], "call-not-found"),
    ]
    for token, uris, code in cases:
        async with client(server, token) as c:
            with pytest.raises(MCPError) as refused:
                async with c.listen(resource_subscriptions=uris):
                    pass
        problem = refused.value.error.data
        assert refused.value.error.code == -32602 and problem["code"] == (code or "not-found"), uris
        async with httpx.AsyncClient(base_url=server.base, headers=bearer(token)) as http:
            record = (await http.get(f"/v1/calls/{problem['call_id']}")).json()
        assert record["action"] == "subscriptions/listen" and record["outcome"] == "refused", "every refusal is recorded"
    async with client(server, server.grants[ACME]) as acme:
        with pytest.raises(MCPError, match="at most 100"):
            async with acme.listen(resource_subscriptions=[f"shop://orders/o_{i}" for i in range(101)]):
                pass


async def test_a_revoked_grant_ends_the_stream(server: Server) -> None:
    token = await asyncio.to_thread(server.issue, ACME, ["orders.get"])
    async with client(server, token) as agent:
        async with agent.listen(resource_subscriptions=["shop://orders/o_1001"]) as sub:

            async def revoke(rt) -> None:  # type: ignore[no-untyped-def]
                grant = await rt.authority.verify(token)
                await rt.authority.revoke(ACME, grant.id, "test")

            await asyncio.to_thread(server.on_runtime, revoke)
            with pytest.raises(SubscriptionLost) as ended:
                await asyncio.wait_for(anext(sub), 10)
    why = ended.value.__cause__
    assert isinstance(why, MCPError) and why.error.code == -32001 and why.error.data["code"] == "grant-revoked"
