"""The approval breakpoint leaves its whole story in the log, in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from chamberlain.app import Runtime
from chamberlain.audit import _log
from chamberlain.demo.shop import shop
from chamberlain.tenants import create_tenant
from tests.approvals.test_approvals import approvers, park
from tests.conftest import make_runtime
from tests.pipeline.test_gateway import add_order


async def story(rt: Runtime, call_id: str) -> list[str]:
    """The kinds of the entries about one call, in log order."""
    entries = [orjson.loads(b) for b in await _log.entries(rt.store, "acme", 0, 1000)]
    return [e["kind"] for e in entries if e.get("call_id") == call_id]


async def test_parked_voted_approved_executed(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=50_000)
    out = await park(runtime)
    (rita,) = await approvers(runtime, "human:rita")
    await runtime.desk.decide(rita, out.approval["id"], approve=True, reason="ok", expected_hash=None, surface="test")
    assert await story(runtime, out.call.id) == ["call.parked", "approval.voted", "approval.approved", "call.executed"]
    record = await runtime.gateway.record(rita, out.call.id)
    assert len(record["audit_entries"]) == 4


async def test_rejected_and_expired(runtime: Runtime, tmp_path: Path) -> None:
    await add_order(runtime, "acme", total=50_000)
    out = await park(runtime)
    (rita,) = await approvers(runtime, "human:rita")
    await runtime.desk.decide(rita, out.approval["id"], approve=False, reason="no", expected_hash=None, surface="test")
    assert await story(runtime, out.call.id) == ["call.parked", "approval.voted", "approval.rejected"]

    rt = make_runtime(shop, tmp_path / "d", approval_ttl_s=0.05)
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        await add_order(rt, "acme", total=50_000)
        late = await park(rt)
        await asyncio.sleep(0.1)
        await rt.approvals.expire_overdue()
        assert await story(rt, late.call.id) == ["call.parked", "approval.expired"]


async def test_an_auditor_grant_reads_the_whole_log_and_an_agent_only_its_own_calls(runtime: Runtime) -> None:
    import pytest

    from chamberlain.errors import AuditEntryNotFound, PermissionDenied
    from tests.conftest import issue

    auditor = await runtime.authority.verify(await issue(runtime, actions=["audit.read"], principal="human:auditor"))
    agent = await runtime.authority.verify(await issue(runtime, actions=["orders.get"]))
    entries = await runtime.gateway.audit_entries(auditor, 0, 10)
    assert [(e["entry"]["kind"], e["entry"]["principal"]) for e in entries] == [
        ("grant.issued", "human:auditor"),
        ("grant.issued", "agent:test"),
    ]
    with pytest.raises(PermissionDenied):
        await runtime.gateway.audit_entries(agent, 0, 10)
    with pytest.raises(AuditEntryNotFound):
        await runtime.gateway.audit_entry(agent, 0, proof=False)  # the auditor's grant, not the agent's call
    assert (await runtime.gateway.audit_entry(auditor, 1, proof=True))["tree_size"] == 2


async def test_erasure_reaches_closed_approvals_and_keeps_open_ones(runtime: Runtime) -> None:
    from chamberlain.audit._export import erase_payloads

    await add_order(runtime, "acme", total=90_000)
    closed, still_open = await park(runtime), await park(runtime)  # both on behalf of user:carol
    (rita,) = await approvers(runtime, "human:rita")
    await runtime.desk.decide(rita, closed.approval["id"], approve=False, reason="no", expected_hash=None, surface="test")
    result = await erase_payloads(runtime.store, "acme", call_ids=[], on_behalf_of="user:carol", reason="request 7", by="t")
    assert result["approvals_kept"] == 1 and result["entries"]
    assert (await runtime.approvals.show("acme", closed.approval["id"]))["arguments"] == {}
    assert (await runtime.approvals.show("acme", still_open.approval["id"]))["arguments"]["order_id"] == "o_1"
