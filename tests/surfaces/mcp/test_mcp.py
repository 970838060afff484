"""MCP against the demo shop on a real server, driven by the official SDK client."""

from __future__ import annotations

import httpx
import orjson
import pytest
from mcp import MCPError
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import DemoServer, new_key
from tests.helpers import mcp_session

ACME, GLOBEX = "acme-shop", "globex-store"


async def test_tools_carry_contracts_and_hints(demo_server: DemoServer) -> None:
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
    assert set(tools) == {
        "accounts.get_settings",
        "accounts.update_email",
        "accounts.update_settings",
        "catalog.list_products",
        "catalog.products.get",
        "catalog.products.put",
        "catalog.products.remove",
        "catalog.search",
        "catalog.settings.put",
        "cart.create",
        "checkout.complete",
        "claims.issue",
        "quotes.create",
        "customers.export",
        "customers.get",
        "orders.get",
        "orders.list",
        "orders.refund",
        "orders.refund.revert",
        "chamberlain.call_status",
    }
    refund = tools["orders.refund"]
    # A money tool takes an idempotency key as an argument (a model can send and resend it).
    assert refund.input_schema["required"] == ["order_id", "amount", "reason", "idempotency_key"]
    assert "idempotency_key" not in tools["orders.get"].input_schema["properties"]
    assert refund.output_schema is not None and refund.output_schema["type"] == "object"
    assert refund.annotations is not None
    assert (refund.annotations.read_only_hint, refund.annotations.destructive_hint) == (False, True)
    assert tools["orders.get"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert refund.meta is not None and refund.meta == {
        "chamberlain/risk": "money",
        "chamberlain/version": 1,
        "chamberlain/idempotency_key": "required",
        "chamberlain/limits": {"rate": "100/minute"},
        "chamberlain/reversible": {"action": "orders.refund.revert", "window_s": 30 * 86400},
        "chamberlain/approval": refund.meta["chamberlain/approval"],
    }
    # The default policies: large or unpriced money movements wait for a human; every export does.
    assert refund.meta["chamberlain/approval"]["required"] == "sometimes"
    assert tools["customers.export"].meta["chamberlain/approval"]["required"] == "always"  # type: ignore[index]
    assert tools["orders.get"].meta["chamberlain/approval"] == {"required": "never"}  # type: ignore[index]
    assert tools["accounts.update_email"].meta["chamberlain/reversible"] is False  # type: ignore[index]
    # The model reads the same facts in the description.
    assert "Reversible within 30 days: call orders.refund.revert" in (refund.description or "")
    assert "May wait for human approval" in (refund.description or "")
    assert "Irreversible" in (tools["accounts.update_email"].description or "")


async def test_call_returns_structured_content_and_a_record(demo_server: DemoServer) -> None:
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        result = await s.call_tool("orders.get", {"order_id": "o_1002"})
        assert not result.is_error
        assert result.structured_content["id"] == "o_1002"  # type: ignore[index]
        assert orjson.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
        call_id = result.meta["chamberlain/call_id"]  # type: ignore[index]
        record = await s.read_resource(f"chamberlain://calls/{call_id}")
    body = orjson.loads(record.contents[0].text)  # type: ignore[union-attr]
    assert body["surface"] == "mcp" and body["outcome"] == "ok" and body["tenant"] == ACME


async def test_refusals_are_tool_errors_with_problem_details(demo_server: DemoServer) -> None:
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        bad = await s.call_tool("orders.get", {"order_idx": "o_1"})
        assert bad.is_error
        assert bad.structured_content["type"].endswith("/invalid-input")  # type: ignore[index]
        too_much = {"order_id": "o_1001", "amount": {"amount_minor": 9_000, "currency": "EUR"}, "reason": "test"}
        unkeyed = await s.call_tool("orders.refund", too_much)
        assert unkeyed.is_error and unkeyed.structured_content["code"] == "idempotency-key-required"  # type: ignore[index]
        refused = await s.call_tool("orders.refund", {**too_much, "idempotency_key": new_key()})
        assert refused.is_error and refused.structured_content["reason"] == "refund-exceeds-order"  # type: ignore[index]
        with pytest.raises(MCPError) as unknown:
            await s.call_tool("orders.nope", {})
        assert unknown.value.code == -32602


async def test_missing_or_bad_grant_is_an_http_401_challenge(demo_server: DemoServer) -> None:
    """MCP clients learn where to get a token from the challenge (RFC 9728)."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=10) as http:
        missing = await http.post(demo_server.mcp_url, json=initialize, headers=headers)
        assert missing.status_code == 401
        challenge = missing.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer resource_metadata=") and "/.well-known/oauth-protected-resource/mcp" in challenge
        assert missing.json()["code"] == "grant-missing" and missing.json()["call_id"]
        forged = await http.post(demo_server.mcp_url, json=initialize, headers={**headers, "Authorization": "Bearer nope"})
        assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
        metadata = (await http.get(challenge.split('"')[1])).json()
        assert metadata["resource"] == demo_server.mcp_url and metadata["authorization_servers"] == [demo_server.base]


async def test_tenants_are_isolated(demo_server: DemoServer) -> None:
    async with mcp_session(demo_server.mcp_url, demo_server.grants[GLOBEX]) as s:
        result = await s.call_tool("orders.get", {"order_id": "o_1001"})
        assert result.structured_content["total"]["currency"] == "USD"  # type: ignore[index]
        acme_call = None
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        acme_call = (await s.call_tool("orders.get", {"order_id": "o_1001"})).meta["chamberlain/call_id"]  # type: ignore[index]
    async with mcp_session(demo_server.mcp_url, demo_server.grants[GLOBEX]) as s:
        with pytest.raises(MCPError):
            await s.read_resource(f"chamberlain://calls/{acme_call}")


async def test_read_models_are_resources(demo_server: DemoServer) -> None:
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        uris = {str(r.uri) for r in (await s.list_resources()).resources}
        assert "chamberlain://actions/catalog.list_products" in uris and "chamberlain://actions/orders.list" in uris
        assert not any("customers.export" in u for u in uris)  # data exports are not read models
        templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
        assert "chamberlain://calls/{call_id}" in templates
        catalog = await s.read_resource("chamberlain://actions/catalog.list_products")
        products = orjson.loads(catalog.contents[0].text)["products"]  # type: ignore[union-attr]
        assert {p["id"] for p in products} == {"p_kettle", "p_teapot", "p_mugs"}
        with pytest.raises(MCPError):
            await s.read_resource("chamberlain://actions/orders.refund")


async def test_narrow_grant_narrows_discovery(demo_server: DemoServer) -> None:
    token = await demo_server.issue(ACME, ["catalog.search", "catalog.list_products"])
    async with mcp_session(demo_server.mcp_url, token) as s:
        names = [t.name for t in (await s.list_tools()).tools]
        assert names == ["catalog.list_products", "catalog.search", "chamberlain.call_status"]
        refused = await s.call_tool("orders.get", {"order_id": "o_1001"})
        assert refused.is_error and refused.structured_content["type"].endswith("/permission-denied")  # type: ignore[index]


async def test_parked_call_is_a_pending_result_the_agent_can_follow(demo_server: DemoServer) -> None:
    big = {"order_id": "o_1006", "amount": {"amount_minor": 12_000, "currency": "EUR"}, "reason": "never arrived"}
    rita = await demo_server.issue(ACME, ["calls.read"], principal="human:rita")
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        parked = await s.call_tool("orders.refund", {**big, "idempotency_key": new_key()})
        body = parked.structured_content
        assert parked.is_error and body["status"] == "pending_approval"  # type: ignore[index]
        assert body["follow"]["tool"] == "chamberlain.call_status" and "do not repeat" in parked.content[0].text  # type: ignore[index,union-attr]
        status = await s.call_tool("chamberlain.call_status", body["follow"]["arguments"])  # type: ignore[index]
        assert not status.is_error and status.structured_content["approval"]["status"] == "pending"  # type: ignore[index]
        async with httpx.AsyncClient(base_url=demo_server.base, headers={"Authorization": f"Bearer {rita}"}) as http:
            approval_id = body["approval"]["id"]  # type: ignore[index]
            decided = await http.post(f"/v1/approvals/{approval_id}/approve", json={"reason": "courier lost it"})
            assert decided.json()["status"] == "executed", decided.text
        done = (await s.call_tool("chamberlain.call_status", body["follow"]["arguments"])).structured_content  # type: ignore[index]
        assert done["outcome"] == "ok" and done["approval"]["result"]["amount"]["amount_minor"] == 12_000  # type: ignore[index]
        other = await s.call_tool("chamberlain.call_status", {"call_id": "call_nope"})
        assert other.is_error and other.structured_content["code"] == "call-not-found"  # type: ignore[index]


async def test_stateless_2026_07_28_envelope(demo_server: DemoServer) -> None:
    """The newest revision: no initialize handshake, one self-contained POST per request."""
    headers = {"Authorization": f"Bearer {demo_server.grants[ACME]}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        async with Client(streamable_http_client(demo_server.mcp_url, http_client=http), mode="2026-07-28") as client:
            assert client.protocol_version == "2026-07-28"
            result = await client.call_tool("orders.get", {"order_id": "o_1004"})
    assert result.structured_content["id"] == "o_1004"  # type: ignore[index]


async def test_protocol_faults_are_json_rpc_errors_and_size_is_capped(demo_server: DemoServer) -> None:
    headers = {
        "Authorization": f"Bearer {demo_server.grants[ACME]}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        malformed = await http.post(demo_server.mcp_url, content=b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":')
        assert malformed.status_code == 400 and malformed.json()["error"]["code"] == -32700
        big = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "orders.get", "arguments": {"order_id": "x" * 2_000_000}},
        }
        too_large = await http.post(demo_server.mcp_url, content=orjson.dumps(big))
        assert too_large.status_code == 413


async def test_an_idempotency_key_in_meta_makes_a_retry_a_replay(demo_server: DemoServer) -> None:
    args = {"order_id": "o_1003", "amount": {"amount_minor": 100, "currency": "EUR"}, "reason": "retried"}
    meta = {"chamberlain/idempotency_key": "mcp-retry-1"}
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        first = await s.call_tool("orders.refund", args, meta=meta)
        again = await s.call_tool("orders.refund", args, meta=meta)
    assert not first.is_error and again.structured_content == first.structured_content
    assert again.meta is not None and first.meta is not None
    assert again.meta["chamberlain/call_id"] == first.meta["chamberlain/call_id"]
    assert again.meta["chamberlain/idempotent_replayed"] is True and "chamberlain/idempotent_replayed" not in first.meta


async def test_a_model_can_send_the_key_as_an_argument(demo_server: DemoServer) -> None:
    args = {"order_id": "o_1003", "amount": {"amount_minor": 100, "currency": "EUR"}, "reason": "model retry"}
    key = new_key()
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        first = await s.call_tool("orders.refund", {**args, "idempotency_key": key})
        again = await s.call_tool("orders.refund", {**args, "idempotency_key": key})
    assert not first.is_error and again.structured_content == first.structured_content
    assert (again.meta or {}).get("chamberlain/idempotent_replayed") is True
    assert (first.meta or {})["chamberlain/ratelimit"]["policy"] == "100/minute"


async def test_nul_in_a_tool_call_is_refused_like_any_bad_input(demo_server: DemoServer) -> None:
    """PostgreSQL refuses NUL in text: each of these was an internal error there, the last two
    with the database's own message (and its SQL) in the JSON-RPC error."""
    async with mcp_session(demo_server.mcp_url, demo_server.grants[ACME]) as s:
        in_data = await s.call_tool("orders.get", {"order_id": "o_1001\x00"})
        assert in_data.is_error and in_data.structured_content["code"] == "invalid-input"  # type: ignore[index]
        assert in_data.structured_content["errors"][0]["loc"] == ["order_id"]  # type: ignore[index]
        status = await s.call_tool("chamberlain.call_status", {"call_id": "call_\x00"})
        assert status.is_error and status.structured_content["code"] == "call-not-found"  # type: ignore[index]
        with pytest.raises(MCPError) as unknown:
            await s.call_tool("orders.get\x00", {"order_id": "o_1001"})
        assert unknown.value.code == -32602
    headers = {"Authorization": f"Bearer {demo_server.grants[ACME]}", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        for uri, code in (("chamberlain://calls/call_\x00", "call-not-found"), ("shop://orders/o_1001\x00", "invalid-input")):
            read = {"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": uri}}
            error = (await http.post(demo_server.mcp_url, json=read)).json()["error"]
            assert error["code"] == -32602 and error["data"]["code"] == code, error


async def test_an_unexpected_failure_is_an_internal_error_that_tells_nothing() -> None:
    """The SDK would answer the exception's own text (with code 0): a database's message, with its SQL."""
    from mcp_types import INTERNAL_ERROR

    from chamberlain.surfaces.mcp._server import _guarded

    async def failing(ctx: object, params: object) -> None:
        raise RuntimeError("(psycopg.DataError) [SQL: SELECT secret FROM calls]")

    with pytest.raises(MCPError) as caught:
        await _guarded(failing)(None, None)
    assert caught.value.code == INTERNAL_ERROR and "secret" not in str(caught.value.error)
    assert caught.value.error.data["code"] == "internal-error"  # type: ignore[index]
