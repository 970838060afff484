"""grants.issue and grants.revoke: delegation through the pipeline, never wider than the caller."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from chamberlain.app import Runtime
from chamberlain.errors import ActionFailed, ConstraintViolated, GrantRevoked, PermissionDenied
from chamberlain.grants import attenuate
from chamberlain.pipeline import Call
from tests.conftest import DemoServer, issue, new_key
from tests.pipeline.test_gateway import REFUND, add_order


async def call(rt: Runtime, token: str, action: str, arguments: dict[str, Any]) -> Any:
    return await rt.gateway.call(Call(action, arguments, token, "test", idempotency_key=new_key()))


async def test_delegation_hands_out_less_and_continues_the_chain(runtime: Runtime) -> None:
    await add_order(runtime, "acme")
    admin = await issue(runtime, actions=["orders.*", "grants.*"], principal="agent:ops", on_behalf_of="user:lead")
    out = await call(runtime, admin, "grants.issue", {"principal": "agent:helper", "actions": ["orders.get"], "ttl_seconds": 600})
    assert out.ok, out.error
    child = out.result
    assert child["on_behalf_of"] == "agent:ops" and child["actions"] == ["orders.get"]
    assert (await call(runtime, child["token"], "orders.get", {"order_id": "o_1"})).ok
    assert isinstance((await call(runtime, child["token"], "orders.refund", REFUND)).error, PermissionDenied)
    verified = await runtime.authority.verify(child["token"])
    assert verified.principal.on_behalf_of == "agent:ops"

    for wider in (["customers.get"], ["*"], ["customers.*"]):
        refused = await call(runtime, admin, "grants.issue", {"principal": "agent:helper", "actions": wider})
        assert isinstance(refused.error, ActionFailed) and refused.error.extra["reason"] == "wider-than-caller", wider
    ok = await call(runtime, admin, "grants.issue", {"principal": "agent:helper", "actions": ["orders.*"]})
    assert ok.ok


async def test_constraints_and_expiry_are_inherited(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=10_000)
    admin = (
        await runtime.authority.issue(
            "acme",
            "agent:ops",
            ["orders.*", "grants.issue"],
            timedelta(minutes=10),
            constraints=["orders.refund: amount.amount_minor <= 5000"],
        )
    ).token
    out = await call(
        runtime, admin, "grants.issue", {"principal": "agent:helper", "actions": ["orders.refund"], "ttl_seconds": 86400}
    )
    child = out.result
    assert child["constraints"] == ["orders.refund: amount.amount_minor <= 5000"]
    admin_expiry = (await runtime.authority.verify(admin)).expires_at
    assert (await runtime.authority.verify(child["token"])).expires_at <= admin_expiry
    big = dict(REFUND, amount={"amount_minor": 6000, "currency": "EUR"})
    assert isinstance((await call(runtime, child["token"], "orders.refund", big)).error, ConstraintViolated)


async def test_attenuated_callers_can_only_name_actions(runtime: Runtime) -> None:
    admin = await issue(runtime, actions=["orders.*", "grants.*"])
    key = str((await runtime.keys.published("acme"))[0]["public_key"])
    narrowed = attenuate(admin, key, actions=["orders.get", "grants.issue"])
    glob = await call(runtime, narrowed, "grants.issue", {"principal": "agent:x", "actions": ["orders.*"]})
    assert isinstance(glob.error, ActionFailed)
    wider = await call(runtime, narrowed, "grants.issue", {"principal": "agent:x", "actions": ["orders.refund"]})
    assert isinstance(wider.error, ActionFailed)
    assert (await call(runtime, narrowed, "grants.issue", {"principal": "agent:x", "actions": ["orders.get"]})).ok


async def test_only_delegating_grants_can_issue_and_revoke(runtime: Runtime) -> None:
    plain = await issue(runtime, actions=["orders.*"])
    refused = await call(runtime, plain, "grants.issue", {"principal": "agent:x", "actions": ["orders.get"]})
    assert isinstance(refused.error, PermissionDenied)
    admin = await issue(runtime, actions=["grants.*", "orders.*"])
    victim = await runtime.authority.issue("acme", "agent:v", ["orders.get"], timedelta(hours=1))
    other_tenant = await runtime.authority.issue("globex", "agent:v", ["orders.get"], timedelta(hours=1))
    gone = await call(runtime, admin, "grants.revoke", {"grant_id": other_tenant.id})
    assert isinstance(gone.error, ActionFailed) and gone.error.extra["reason"] == "grant-not-found"
    assert (await call(runtime, admin, "grants.revoke", {"grant_id": victim.id, "reason": "rotation"})).ok
    with pytest.raises(GrantRevoked):
        await runtime.authority.verify(victim.token)


def test_rest_grant_endpoints(demo_server: DemoServer) -> None:
    import asyncio

    admin = asyncio.run(demo_server.issue("acme-shop", ["orders.*", "grants.*"]))
    with httpx.Client(base_url=demo_server.base, headers={"Authorization": f"Bearer {admin}"}) as c:
        created = c.post("/v1/grants", json={"principal": "agent:helper", "actions": ["orders.get"], "ttl_seconds": 300})
        assert created.status_code == 201, created.text
        child = created.json()["result"]
        helper = {"Authorization": f"Bearer {child['token']}"}
        assert c.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=helper).status_code == 200
        deleted = c.delete(f"/v1/grants/{child['id']}", params={"reason": "done"})
        assert deleted.status_code == 200 and deleted.json()["result"] == {"grant_id": child["id"], "revoked": True}
        after = c.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=helper)
        assert after.status_code == 401 and after.json()["code"] == "grant-revoked"
        record = c.get(f"/v1/calls/{created.json()['call_id']}").json()
        assert record["action"] == "grants.issue" and record["decision"] == "allowed"
        bad = c.delete("/v1/grants/not-a-grant-id")
        assert bad.status_code == 422 and bad.json()["code"] == "invalid-input"
