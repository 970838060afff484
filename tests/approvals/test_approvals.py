"""Parked calls end to end in-process: approve, reject, expire, races, tampering, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from chamberlain.app import Runtime
from chamberlain.demo.shop import refunds, shop
from chamberlain.errors import (
    ApprovalAlreadyGiven,
    ApprovalClosed,
    ApprovalRequestChanged,
    ApproverInChain,
    ApproverRequired,
)
from chamberlain.pipeline import Call
from chamberlain.store import approvals, calls, tenant_transaction
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime, new_key
from tests.pipeline.test_gateway import add_order, count, record

BIG = {"order_id": "o_1", "amount": {"amount_minor": 20_000, "currency": "EUR"}, "reason": "broken on arrival"}


async def park(rt: Runtime, token: str | None = None, arguments: dict[str, Any] | None = None) -> Any:
    token = token or await issue(rt, principal="agent:support", on_behalf_of="user:carol")
    out = await rt.gateway.call(Call("orders.refund", arguments or BIG, token, "test", idempotency_key=new_key()))
    assert out.pending and out.error is None, out.error
    return out


async def approvers(rt: Runtime, *names: str) -> list[Any]:
    grants = []
    for name in names:
        await rt.roles.add("acme", name, "approver")
        grants.append(await rt.authority.verify(await issue(rt, principal=name, actions=["calls.read"])))
    return grants


@pytest.fixture
async def shop_rt(runtime: Runtime) -> Runtime:
    await add_order(runtime, "acme", total=50_000)
    return runtime


async def test_large_refund_parks_then_runs_once_when_approved(shop_rt: Runtime) -> None:
    rt = shop_rt
    out = await park(rt)
    assert out.approval["policies"] == ["default-approve-large-money"] and out.approval["approvals_required"] == 1
    rec = await record(rt, out.call.id)
    assert (rec["decision"], rec["outcome"], rec["approval_id"]) == ("parked", "pending", out.approval["id"])
    assert rec["reasons"][-1]["decision"] == "require_approval" and await count(rt, refunds) == 0

    (rita,) = await approvers(rt, "human:rita")
    view = await rt.desk.decide(rita, out.approval["id"], approve=True, reason="ok", expected_hash=None, surface="test")
    assert view["status"] == "executed" and view["result"]["amount"]["amount_minor"] == 20_000
    assert [s["step"] for s in view["steps"]] == ["requested", "approved", "executed"]
    assert view["steps"][1]["by"] == "human:rita"
    rec = await record(rt, out.call.id)
    assert (rec["decision"], rec["outcome"]) == ("allowed", "ok") and rec["result_hash"].startswith("sha256:")
    assert await count(rt, refunds) == 1
    assert await rt.approved_calls.run_pending() == 0 and await count(rt, refunds) == 1


async def test_rejection_ends_the_call_without_effect(shop_rt: Runtime) -> None:
    out = await park(shop_rt)
    (rita,) = await approvers(shop_rt, "human:rita")
    view = await shop_rt.desk.decide(rita, out.approval["id"], approve=False, reason="fraud", expected_hash=None, surface="t")
    assert view["status"] == "rejected" and view["steps"][-1] == {
        "step": "rejected",
        "at": view["steps"][-1]["at"],
        "by": "human:rita",
        "reason": "fraud",
    }
    rec = await record(shop_rt, out.call.id)
    assert (rec["decision"], rec["outcome"]) == ("refused", "rejected") and await count(shop_rt, refunds) == 0
    with pytest.raises(ApprovalClosed):
        await shop_rt.desk.decide(rita, out.approval["id"], approve=True, reason="oops", expected_hash=None, surface="t")


async def test_expiry_closes_the_call(tmp_path: Path) -> None:
    rt = make_runtime(shop, tmp_path / "d", approval_ttl_s=0.05)
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        await add_order(rt, "acme", total=50_000)
        out = await park(rt)
        (rita,) = await approvers(rt, "human:rita")
        await asyncio.sleep(0.1)
        with pytest.raises(ApprovalClosed) as closed:
            await rt.desk.decide(rita, out.approval["id"], approve=True, reason="late", expected_hash=None, surface="t")
        assert closed.value.extra["status"] == "expired"
        rec = await record(rt, out.call.id)
        assert (rec["decision"], rec["outcome"]) == ("refused", "expired") and await count(rt, refunds) == 0


async def test_two_approvers_at_once_run_the_call_once(shop_rt: Runtime) -> None:
    out = await park(shop_rt)
    rita, sam = await approvers(shop_rt, "human:rita", "human:sam")
    results = await asyncio.gather(
        *(
            shop_rt.desk.decide(g, out.approval["id"], approve=True, reason="yes", expected_hash=None, surface="t")
            for g in (rita, sam)
        ),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ApprovalClosed", "dict"]
    assert await count(shop_rt, refunds) == 1


async def test_two_runners_at_once_run_the_call_once(shop_rt: Runtime) -> None:
    out = await park(shop_rt)
    async with tenant_transaction(shop_rt.store, "acme") as tx:  # as if approved, then the process died
        await tx.execute(update(approvals).where(approvals.c.id == out.approval["id"]).values(status="approved"))
    row = await shop_rt.approvals.row("acme", out.approval["id"])
    await asyncio.gather(shop_rt.approved_calls.run(row), shop_rt.approved_calls.run(dict(row)), shop_rt.sweep())
    assert await count(shop_rt, refunds) == 1
    assert (await shop_rt.approvals.show("acme", out.approval["id"]))["status"] == "executed"


async def test_n_distinct_approvers(shop_rt: Runtime) -> None:
    rule = """
@id("two-eyes")
@approval("large refunds need two people")
@approvers("2")
permit (principal, action == Chamberlain::Action::"orders.refund", resource) when { context.amount_minor > 10000 };
permit (principal, action, resource);
"""
    await shop_rt.policies.publish("acme", {"rules.cedar": rule}, author="operator:test")
    out = await park(shop_rt)
    assert out.approval["approvals_required"] == 2 and out.approval["policies"] == ["two-eyes"]
    rita, sam = await approvers(shop_rt, "human:rita", "human:sam")
    first = await shop_rt.desk.decide(rita, out.approval["id"], approve=True, reason="1", expected_hash=None, surface="t")
    assert first["status"] == "pending" and first["approvals_given"] == 1 and await count(shop_rt, refunds) == 0
    with pytest.raises(ApprovalAlreadyGiven):
        await shop_rt.desk.decide(rita, out.approval["id"], approve=True, reason="again", expected_hash=None, surface="t")
    second = await shop_rt.desk.decide(sam, out.approval["id"], approve=True, reason="2", expected_hash=None, surface="t")
    assert second["status"] == "executed" and await count(shop_rt, refunds) == 1


async def test_requester_and_its_chain_cannot_approve(shop_rt: Runtime) -> None:
    rita, carol = await approvers(shop_rt, "human:rita", "user:carol")
    mine = await park(shop_rt, await issue(shop_rt, principal="human:rita"))
    with pytest.raises(ApproverInChain):
        await shop_rt.desk.decide(rita, mine.approval["id"], approve=True, reason="me", expected_hash=None, surface="t")
    for_carol = await park(shop_rt)  # agent:support on behalf of user:carol
    with pytest.raises(ApproverInChain):
        await shop_rt.desk.decide(carol, for_carol.approval["id"], approve=True, reason="mine", expected_hash=None, surface="t")
    outsider = await shop_rt.authority.verify(await issue(shop_rt, principal="human:mallory"))
    with pytest.raises(ApproverRequired):
        await shop_rt.desk.decide(outsider, for_carol.approval["id"], approve=True, reason="x", expected_hash=None, surface="t")
    refusals = await shop_rt.store.fetch_all(
        select(calls).where(calls.c.action == "approvals.approve", calls.c.decision == "refused", calls.c.tenant_id == "acme")
    )
    assert len(refusals) == 3 and {r["principal"] for r in refusals} == {"human:rita", "user:carol", "human:mallory"}
    assert await count(shop_rt, refunds) == 0


async def test_tampered_arguments_are_refused_at_run_time(shop_rt: Runtime) -> None:
    out = await park(shop_rt)
    (rita,) = await approvers(shop_rt, "human:rita")
    tampered = dict(BIG, amount={"amount_minor": 49_000, "currency": "EUR"})
    async with tenant_transaction(shop_rt.store, "acme") as tx:
        await tx.execute(update(approvals).where(approvals.c.id == out.approval["id"]).values(arguments=tampered))
    view = await shop_rt.desk.decide(rita, out.approval["id"], approve=True, reason="ok", expected_hash=None, surface="t")
    assert view["status"] == "failed" and view["error"]["code"] == "approval-request-changed"
    assert await count(shop_rt, refunds) == 0
    rec = await record(shop_rt, out.call.id)
    assert (rec["decision"], rec["outcome"]) == ("refused", "refused")


async def test_a_decision_names_the_request_it_reviewed(shop_rt: Runtime) -> None:
    out = await park(shop_rt)
    (rita,) = await approvers(shop_rt, "human:rita")
    with pytest.raises(ApprovalRequestChanged):
        await shop_rt.desk.decide(rita, out.approval["id"], approve=True, reason="ok", expected_hash="sha256:00", surface="t")
    view = await shop_rt.desk.decide(
        rita, out.approval["id"], approve=True, reason="ok", expected_hash=out.approval["request_hash"], surface="t"
    )
    assert view["status"] == "executed"


async def test_revoking_the_grant_stops_a_parked_call(shop_rt: Runtime) -> None:
    token = await issue(shop_rt, principal="agent:support")
    out = await park(shop_rt, token)
    await shop_rt.authority.revoke_token(token, "agent misbehaved")
    (rita,) = await approvers(shop_rt, "human:rita")
    view = await shop_rt.desk.decide(rita, out.approval["id"], approve=True, reason="ok", expected_hash=None, surface="t")
    assert view["status"] == "failed" and view["error"]["code"] == "grant-revoked" and await count(shop_rt, refunds) == 0


async def test_restart_while_parked_loses_nothing_and_runs_nothing_twice(tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = make_runtime(shop, data)
    async with first.running():
        await create_tenant(first.store, first.keys, "acme", "Acme")
        await add_order(first, "acme", total=50_000)
        out = await park(first)
        (rita,) = await approvers(first, "human:rita")
        rita_token = await issue(first, principal="human:rita", actions=["calls.read"])
    second = make_runtime(shop, data)
    async with second.running():
        rita = await second.authority.verify(rita_token)
        assert (await second.approvals.show("acme", out.approval["id"]))["status"] == "pending"
        # The vote commits, then the process dies before running the call.
        await second.approvals.decide("acme", out.approval["id"], "human:rita", approve=True, reason="ok")
    third = make_runtime(shop, data)
    async with third.running():
        await third.sweep()  # what a serving gateway does first: the approved call runs now
        assert (await third.approvals.show("acme", out.approval["id"]))["status"] == "executed"
        assert await count(third, refunds) == 1
    fourth = make_runtime(shop, data)
    async with fourth.running():
        assert await count(fourth, refunds) == 1
        with pytest.raises(ApprovalClosed):
            await fourth.desk.decide(rita, out.approval["id"], approve=True, reason="x", expected_hash=None, surface="t")
