"""Tenant A's credentials against tenant B's resources, through every surface.

Each attack is refused with the problem type that says why, and the refusal is recorded
in the *attacker's* tenant (its call records and audit log): B's log never learns of A's
probe, and A's operator sees it. The property test in tests/test_isolation.py adds that no
byte of one tenant's data ever reaches the other.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from chamberlain.cli import main
from chamberlain.errors import ERROR_BASE_URI
from tests.security.conftest import ACME, GLOBEX, Gate, bearer, console, csrf, problem, refused

TENANT = "Chamberlain-Tenant"


@dataclass
class World:
    acme_call: str
    """A call of acme's (its agent read an order)."""
    acme_refund_call: str
    acme_approval: str
    """An approval parked in acme (an account change)."""
    globex_endpoint: str
    """A webhook endpoint registered by globex."""
    rita: str
    """acme's approver (human:rita), with her own grant in acme."""


@pytest.fixture(scope="module")
def world(gate: Gate) -> World:
    with httpx.Client(base_url=gate.base, timeout=30) as http:
        acme = bearer(gate.grants[ACME])
        call = http.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=acme)
        refund = {"order_id": "o_1001", "amount": {"amount_minor": 100, "currency": "EUR"}, "reason": "dented"}
        refunded = http.post("/v1/actions/orders.refund", json=refund, headers={**acme, "Idempotency-Key": "xt-refund-1"})
        parked = http.post(
            "/v1/actions/accounts.update_email", json={"customer_id": "c_1", "email": "a@example.com"}, headers=acme
        )
        hook = {"url": "https://93.184.215.14/hooks/globex", "types": ["order.refund_reversed"]}
        registered = http.post("/v1/actions/webhooks.register", json=hook, headers=bearer(gate.issue(GLOBEX)))
    assert call.status_code == 200 and refunded.status_code == 200, refunded.text
    assert parked.status_code == 202 and registered.status_code == 200, registered.text
    rita = gate.issue(ACME, ["calls.read"], principal="human:rita")
    return World(
        call.json()["call_id"],
        refunded.json()["call_id"],
        parked.json()["approval"]["id"],
        registered.json()["result"]["id"],
        rita,
    )


# --- REST ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/actions/orders.get", {"order_id": "o_1001"}),
        ("POST", "/v1/catalog/search", {"query": "kettle"}),
        ("GET", "/v1/actions", None),
        ("GET", "/v1/calls", None),
        ("GET", "/v1/audit/checkpoint", None),
        ("GET", "/v1/audit/entries?from=0", None),
        ("GET", "/v1/approvals", None),
        ("GET", "/v1/events/types", None),
        ("GET", "/v1/events", None),
    ],
)
def test_naming_another_tenant_is_refused_on_every_rest_endpoint(
    gate: Gate, http: httpx.Client, method: str, path: str, body: Any
) -> None:
    """A's grant with ``Chamberlain-Tenant: B``: refused, never served as A's data or B's."""
    headers = bearer(gate.grants[ACME], **{TENANT: GLOBEX})
    resp = http.request(method, path, json=body, headers=headers)
    refused(gate, resp, 401, "grant-wrong-tenant", ACME)


def test_another_tenants_call_record_is_not_found(gate: Gate, http: httpx.Client, world: World) -> None:
    globex = bearer(gate.grants[GLOBEX])
    refused(gate, http.get(f"/v1/calls/{world.acme_call}", headers=globex), 404, "call-not-found", GLOBEX)
    # Even a grant that reads every record of its tenant reads only its own tenant's.
    auditor = gate.issue(GLOBEX, ["calls.read", "audit.read"], principal="human:auditor")
    refused(gate, http.get(f"/v1/calls/{world.acme_call}", headers=bearer(auditor)), 404, "call-not-found", GLOBEX)
    listed = http.get("/v1/calls?limit=500", headers=bearer(auditor)).json()
    assert listed["tenant"] == GLOBEX and world.acme_call not in {c["id"] for c in listed["calls"]}


def test_another_tenants_call_cannot_be_reverted(gate: Gate, http: httpx.Client, world: World) -> None:
    resp = http.post(f"/v1/calls/{world.acme_refund_call}/revert", json={}, headers=bearer(gate.grants[GLOBEX]))
    refused(gate, resp, 404, "call-not-found", GLOBEX)
    assert gate.record(world.acme_refund_call, ACME)["outcome"] == "ok"


def test_another_tenants_audit_log_is_out_of_reach(gate: Gate, http: httpx.Client, world: World) -> None:
    (entry,) = gate.log_entries(ACME, world.acme_call)
    index = entry["index"]
    auditor = bearer(gate.issue(GLOBEX, ["audit.read"], principal="human:auditor"))
    # The index names an entry of globex's own log, never acme's: what comes back is globex's.
    entry = http.get(f"/v1/audit/entries/{index}", headers=auditor)
    assert entry.status_code in (200, 404)
    if entry.status_code == 200:
        assert entry.json()["entry"]["tenant"] == GLOBEX and world.acme_call not in entry.text
    # An agent without audit.read reads only the entries of its own calls.
    agent = bearer(gate.grants[GLOBEX])
    own = http.get(f"/v1/calls/{http.post('/v1/actions/orders.list', json={}, headers=agent).json()['call_id']}", headers=agent)
    mine = set(own.json()["audit_entries"])
    others = next(i for i in range(index + 1) if i not in mine and i != 0)  # 0: this grant's own issue
    refused(gate, http.get(f"/v1/audit/entries/{others}", headers=agent), 404, "audit-entry-not-found", GLOBEX)
    refused(gate, http.get("/v1/audit/entries?from=0", headers=agent), 403, "permission-denied", GLOBEX)


def test_another_tenants_approval_can_be_neither_read_nor_decided(gate: Gate, http: httpx.Client, world: World) -> None:
    gina = bearer(gate.issue(GLOBEX, ["calls.read"], principal="human:rita"))  # rita is an approver in globex too
    refused(gate, http.get(f"/v1/approvals/{world.acme_approval}", headers=gina), 404, "approval-not-found", GLOBEX)
    decided = http.post(f"/v1/approvals/{world.acme_approval}/approve", json={"reason": "looks fine"}, headers=gina)
    refused(gate, decided, 404, "approval-not-found", GLOBEX)
    still = http.get(f"/v1/approvals/{world.acme_approval}", headers=bearer(world.rita)).json()
    assert still["status"] == "pending" and still["approvals_given"] == 0


def test_another_tenants_webhook_endpoint_is_not_found(gate: Gate, http: httpx.Client, world: World) -> None:
    acme = bearer(gate.issue(ACME))  # every action, webhooks.* included
    resp = http.post("/v1/actions/webhooks.remove", json={"endpoint_id": world.globex_endpoint}, headers=acme)
    body = problem(resp, 422, "action-failed")
    assert body["reason"] == "webhook-not-found", body
    gate.audited(body["call_id"], "action-failed", ACME)
    # Reading and replaying deliveries are filtered by the caller's tenant: another
    # tenant's endpoint has none, and nothing is sent again.
    for action in ("webhooks.deliveries", "webhooks.replay"):
        seen = http.post(f"/v1/actions/{action}", json={"endpoint_id": world.globex_endpoint}, headers=acme)
        assert seen.status_code == 200 and seen.json()["result"]["deliveries"] == [], seen.text
    listed = http.post("/v1/actions/webhooks.list", json={}, headers=bearer(gate.issue(GLOBEX))).json()
    assert world.globex_endpoint in {e["id"] for e in listed["result"]["endpoints"]}


def test_the_event_stream_of_another_tenant_is_refused(gate: Gate, http: httpx.Client) -> None:
    with http.stream("GET", "/v1/events", headers=bearer(gate.grants[ACME], **{TENANT: GLOBEX})) as resp:
        resp.read()
        refused(gate, resp, 401, "grant-wrong-tenant", ACME)


# --- MCP ----------------------------------------------------------------------------------


@asynccontextmanager
async def mcp(gate: Gate, token: str, **headers: str) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session (the official SDK's), with extra HTTP headers."""
    async with httpx.AsyncClient(headers=bearer(token, **headers), timeout=30) as http:
        async with streamable_http_client(gate.mcp_url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def test_mcp_tool_calls_naming_another_tenant_are_refused(gate: Gate) -> None:
    async with mcp(gate, gate.grants[ACME], **{TENANT: GLOBEX}) as s:
        result = await s.call_tool("orders.get", {"order_id": "o_1001"})
        assert result.is_error and result.structured_content is not None
        assert result.structured_content["type"] == ERROR_BASE_URI + "grant-wrong-tenant"
        gate.audited(result.structured_content["call_id"], "grant-wrong-tenant", ACME)
        with pytest.raises(MCPError) as listing:
            await s.list_tools()
        assert listing.value.error.data["code"] == "grant-wrong-tenant"  # type: ignore[index]
        gate.audited(listing.value.error.data["call_id"], "grant-wrong-tenant", ACME)  # type: ignore[index]


async def test_mcp_reads_of_another_tenants_call_are_refused(gate: Gate, world: World) -> None:
    async with mcp(gate, gate.grants[GLOBEX]) as s:
        with pytest.raises(MCPError) as read:
            await s.read_resource(f"chamberlain://calls/{world.acme_call}")  # type: ignore[arg-type]
        data = read.value.error.data
        assert data["type"] == ERROR_BASE_URI + "call-not-found"  # type: ignore[index]
        gate.audited(data["call_id"], "call-not-found", GLOBEX)  # type: ignore[index]
        status = await s.call_tool("chamberlain.call_status", {"call_id": world.acme_call})
        assert status.is_error and status.structured_content is not None
        assert status.structured_content["code"] == "call-not-found"
        gate.audited(status.structured_content["call_id"], "call-not-found", GLOBEX)


async def test_mcp_tools_list_shows_only_what_the_grant_covers(gate: Gate) -> None:
    narrow = gate.issue(GLOBEX, ["orders.get"])
    async with mcp(gate, narrow) as s:
        names = [t.name for t in (await s.list_tools()).tools]
        assert names == ["orders.get", "chamberlain.call_status"]
        resources = [str(r.uri) for r in (await s.list_resources()).resources]
        assert all(not uri.startswith(("shop://customers", "catalog://")) for uri in resources)
        denied = await s.call_tool("customers.export", {})
        assert denied.is_error and denied.structured_content is not None
        assert denied.structured_content["code"] == "permission-denied"
        assert denied.structured_content["allowed_actions"] == ["orders.get"]
        gate.audited(denied.structured_content["call_id"], "permission-denied", GLOBEX)


# --- the console --------------------------------------------------------------------------


def test_a_console_person_cannot_reach_another_tenants_pages(gate: Gate, world: World) -> None:
    with console(gate, GLOBEX, "gina") as gina:
        before = gate.refusals(GLOBEX, "console.call")
        page = gina.get(f"/console/calls/{world.acme_call}")
        assert page.status_code == 404 and ACME not in page.text
        gate.audited(gate.new_refusal(GLOBEX, "console.call", before), "call-not-found", GLOBEX)
        # A decision on another tenant's approval, with a valid form token: not found, recorded.
        token = csrf(gina.get("/console/approvals"))
        before = gate.refusals(GLOBEX, "approvals.approve")
        decided = gina.post(
            f"/console/approvals/{world.acme_approval}/decide",
            data={"decision": "approve", "reason": "ok", "csrf": token},
            headers={"Origin": gate.base},
        )
        assert decided.status_code == 404 and ACME not in decided.text
        gate.audited(gate.new_refusal(GLOBEX, "approvals.approve", before), "approval-not-found", GLOBEX)
        activity = gina.get("/console/activity")
        assert activity.status_code == 200 and world.acme_call not in activity.text and ACME not in activity.text
    with console(gate, ACME, "rita") as rita:
        assert rita.get(f"/console/calls/{world.acme_call}").status_code == 200  # the owner's person does see it


# --- the CLI ------------------------------------------------------------------------------


def test_the_cli_keeps_an_operator_inside_the_tenant_it_names(gate: Gate, world: World) -> None:
    """The CLI is the operator's (trusted with the data folder), but what it does still goes
    through the tenant it names: another tenant's ids are not found there, and the refusals
    are recorded in the tenant named."""
    runner, folder = CliRunner(), ["--data-dir", str(gate.data)]
    before = gate.refusals(GLOBEX, "approvals.approve")
    approve = ["approvals", "approve", world.acme_approval, "--tenant", GLOBEX, "--as", "human:rita", "--reason", "x"]
    decided = runner.invoke(main, [*approve, "--wait", "0", *folder])
    assert decided.exit_code == 1 and "No such approval" in decided.output, decided.output
    gate.audited(gate.new_refusal(GLOBEX, "approvals.approve", before), "approval-not-found", GLOBEX)

    reverted = runner.invoke(main, ["revert", world.acme_refund_call, "--tenant", GLOBEX, "--json", *folder])
    assert reverted.exit_code != 0, reverted.output
    (outcome,) = json.loads(reverted.output[reverted.output.index("[") :])
    assert outcome["status"] == "refused" and outcome["problem"]["code"] == "call-not-found", outcome
    gate.audited(outcome["revert_call_id"], "call-not-found", GLOBEX)

    shown = runner.invoke(main, ["call", "show", world.acme_call, "--tenant", GLOBEX, *folder])
    assert shown.exit_code == 1 and f"no call {world.acme_call} in tenant {GLOBEX}" in shown.output
    assert gate.record(world.acme_refund_call, ACME)["outcome"] == "ok"
    approval = gate.inspect.run(lambda rt: rt.approvals.show(ACME, world.acme_approval))
    assert approval["status"] == "pending" and approval["approvals_given"] == 0
