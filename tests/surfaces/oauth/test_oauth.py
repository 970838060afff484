"""OAuth 2.1 front: metadata, client credentials, token exchange, and a standard MCP client."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client

from chamberlain.demo import shop
from tests.conftest import DemoServer, make_runtime


def register(demo: DemoServer, actions: list[str], constraints: list[str] | None = None) -> tuple[str, str]:
    async def run() -> tuple[str, str]:
        rt = make_runtime(shop, demo.data)
        async with rt.running():
            client = await rt.clients.register(
                "acme-shop", "agent:oauth-bot", actions, __import__("datetime").timedelta(minutes=30), constraints
            )
            return client.client_id, client.secret

    return asyncio.run(run())


@pytest.fixture
def http(demo_server: DemoServer) -> httpx.Client:
    with httpx.Client(base_url=demo_server.base, timeout=10) as c:
        yield c  # type: ignore[misc]


def test_metadata_documents(http: httpx.Client, demo_server: DemoServer) -> None:
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        prm = http.get(path).json()
        assert prm == {
            "resource": demo_server.mcp_url,
            "authorization_servers": [demo_server.base],
            "bearer_methods_supported": ["header"],
            "resource_name": "Chamberlain MCP gateway",
        }
    server = http.get("/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == demo_server.base and server["token_endpoint"] == f"{demo_server.base}/oauth/token"
    assert set(server["grant_types_supported"]) == {"client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"}
    assert http.get("/oauth/authorize").json()["error"] == "unsupported_response_type"


def test_client_credentials_and_errors(http: httpx.Client, demo_server: DemoServer) -> None:
    client_id, secret = register(demo_server, ["orders.get", "orders.list"])
    token = http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "resource": demo_server.mcp_url}, auth=(client_id, secret)
    )
    assert token.status_code == 200 and token.headers["Cache-Control"] == "no-store"
    body = token.json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 1800 and body["scope"] == "orders.get orders.list"
    call = http.post(
        "/v1/actions/orders.get", json={"order_id": "o_1001"}, headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert call.status_code == 200
    record = http.get(f"/v1/calls/{call.json()['call_id']}", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert record["principal"] == "agent:oauth-bot" and record["on_behalf_of"] == f"service:{client_id}"

    post_auth = http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert post_auth.status_code == 200
    wrong: list[dict[str, Any]] = [
        {"data": {"grant_type": "client_credentials"}, "auth": (client_id, "wrong"), "status": 401, "error": "invalid_client"},
        {"data": {"grant_type": "client_credentials"}, "auth": ("cl_nobody", secret), "status": 401, "error": "invalid_client"},
        {"data": {"grant_type": "password"}, "auth": (client_id, secret), "status": 400, "error": "unsupported_grant_type"},
        {
            "data": {"grant_type": "client_credentials", "resource": "https://elsewhere.example/mcp"},
            "auth": (client_id, secret),
            "status": 400,
            "error": "invalid_target",
        },
    ]
    for case in wrong:
        resp = http.post("/oauth/token", data=case["data"], auth=case["auth"])
        assert (resp.status_code, resp.json()["error"]) == (case["status"], case["error"]), case
        assert secret not in resp.text


def test_token_exchange_narrows(http: httpx.Client, demo_server: DemoServer) -> None:
    parent = demo_server.grants["acme-shop"]
    exchanged = http.post(
        "/oauth/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": parent,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "scope": "orders.get",
            "expires_in": "120",
            "actor": "agent:summarizer",
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    child = exchanged.json()
    assert child["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token" and child["expires_in"] <= 120
    auth = {"Authorization": f"Bearer {child['access_token']}"}
    assert http.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=auth).status_code == 200
    assert http.post("/v1/actions/customers.get", json={"customer_id": "c_1"}, headers=auth).status_code == 403
    refused = http.post(
        "/oauth/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": "junk"}
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("expires_in", ["\u00b2", "9" * 30, "9" * 5000, "0", "soon"])
def test_token_exchange_refuses_a_lifetime_that_is_not_whole_seconds(
    http: httpx.Client, demo_server: DemoServer, expires_in: str
) -> None:
    """Superscript digits passed isdigit() but not int(); 30 nines overflowed timedelta: both were 500s."""
    data = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": demo_server.grants["acme-shop"],
        "expires_in": expires_in,
    }
    refused = http.post("/oauth/token", data=data)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", refused.text


class _Memory:
    def __init__(self) -> None:
        self.tokens: Any = None
        self.info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.info

    async def set_client_info(self, info: Any) -> None:
        self.info = info


async def test_standard_mcp_client_gets_a_token_and_calls_a_tool(demo_server: DemoServer) -> None:
    client_id, secret = await asyncio.to_thread(register, demo_server, ["orders.*"])
    provider = ClientCredentialsOAuthProvider(
        server_url=demo_server.mcp_url, storage=_Memory(), client_id=client_id, client_secret=secret, issuer=demo_server.base
    )
    async with httpx2.AsyncClient(auth=provider, timeout=10) as http_client:
        async with streamable_http_client(demo_server.mcp_url, http_client=http_client) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = [t.name for t in (await session.list_tools()).tools]
                result = await session.call_tool("orders.get", {"order_id": "o_1002"})
    assert tools == ["orders.get", "orders.list", "orders.refund", "orders.refund.revert", "chamberlain.call_status"]
    assert result.structured_content["id"] == "o_1002"  # type: ignore[index]
