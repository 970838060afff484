"""Reverting calls through the pipeline: happy path, twice, races, approval, refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from chamberlain import Context, Original, Surface
from chamberlain.app import Runtime
from chamberlain.demo.shop import orders, refund_reversals
from chamberlain.errors import (
    AlreadyReverted,
    CallNotFound,
    InvalidInput,
    NotReversible,
    PermissionDenied,
    RevertPending,
    RevertWindowClosed,
)
from chamberlain.pipeline import REVERT_CALLS, Call
from chamberlain.store import audit_entries, reversible_calls, tenant_transaction
from tests.approvals.test_approvals import BIG, approvers
from tests.conftest import issue
from tests.pipeline.test_gateway import REFUND, add_order, count, record, run


async def revert(rt: Runtime, token: str, call_id: str, reason: str | None = None) -> Any:
    """A revert asked for by call id, as REST and the CLI ask for one."""
    arguments = {"reason": reason} if reason else {}
    return await rt.gateway.call(Call(REVERT_CALLS, arguments, token, "test", revert_of=call_id))


async def order(rt: Runtime, tenant: str = "acme") -> dict[str, Any]:
    row = await rt.store.fetch_one(select(orders).where(orders.c.tenant_id == tenant, orders.c.id == "o_1"))
    assert row is not None
    return dict(row)


@pytest.fixture
async def refunded(runtime: Runtime) -> tuple[Runtime, str, str]:
    """A small refund that ran (below the approval threshold): the runtime, the agent's token, the call id."""
    await add_order(runtime, "acme")
    token = await issue(runtime, principal="agent:support")
    out = await run(runtime, token, "orders.refund", REFUND)
    assert out.ok, out.error
    return runtime, token, out.call.id


async def test_revert_runs_the_compensation_and_links_both_calls(refunded: tuple[Runtime, str, str]) -> None:
    rt, token, call_id = refunded
    assert (await order(rt))["refunded_minor"] == 1000
    out = await revert(rt, token, call_id, reason="refunded the wrong order")
    assert out.ok, out.error
    assert out.call.action_name == "orders.refund.revert"
    assert out.result["order_status"] == "paid" and out.result["amount"]["amount_minor"] == 1000
    assert (await order(rt))["refunded_minor"] == 0 and await count(rt, refund_reversals) == 1

    rev = await record(rt, out.call.id)
    assert (rev["decision"], rev["outcome"], rev["revert_of"]) == ("allowed", "ok", call_id)
    grant = await rt.authority.verify(token)
    original = await rt.gateway.record(grant, call_id)
    assert original["revert"]["reverted_by"] == out.call.id and original["revert"]["action"] == "orders.refund.revert"
    assert original["revert"]["revert_until"] > original["started_at"]
    entry = (await rt.audit.entry("acme", out.audit_index))["entry"]
    assert entry["kind"] == "call.executed" and entry["revert_of"] == call_id
    stored = await rt.store.fetch_one(select(audit_entries.c.payload).where(audit_entries.c.idx == out.audit_index))
    assert stored is not None and "refunded the wrong order" in stored["payload"]


async def test_reverting_twice_is_refused_and_audited(refunded: tuple[Runtime, str, str]) -> None:
    rt, token, call_id = refunded
    first = await revert(rt, token, call_id)
    assert first.ok, first.error
    again = await revert(rt, token, call_id)
    assert isinstance(again.error, AlreadyReverted) and again.error.extra["reverted_by"] == first.call.id
    rec = await record(rt, again.call.id)
    assert (rec["decision"], rec["revert_of"], rec["error_type"]) == ("refused", call_id, again.error.type_uri)
    entry = (await rt.audit.entry("acme", again.audit_index))["entry"]
    assert entry["kind"] == "call.refused" and entry["revert_of"] == call_id
    assert (await order(rt))["refunded_minor"] == 0 and await count(rt, refund_reversals) == 1


async def test_concurrent_reverts_revert_once(refunded: tuple[Runtime, str, str]) -> None:
    rt, token, call_id = refunded
    outs = await asyncio.gather(*(revert(rt, token, call_id) for _ in range(8)))
    assert sum(o.ok for o in outs) == 1
    assert all(isinstance(o.error, AlreadyReverted) for o in outs if not o.ok)
    assert (await order(rt))["refunded_minor"] == 0 and await count(rt, refund_reversals) == 1


async def test_the_revert_action_can_be_called_by_name(refunded: tuple[Runtime, str, str]) -> None:
    """An MCP agent calls ``orders.refund.revert`` as a tool; the same checks apply."""
    rt, token, call_id = refunded
    listing = await run(rt, token, "orders.list", {})
    wrong = await run(rt, token, "orders.refund.revert", {"call_id": listing.call.id})
    assert isinstance(wrong.error, NotReversible) and "orders.list" in wrong.error.detail
    out = await run(rt, token, "orders.refund.revert", {"call_id": call_id})
    assert out.ok and (await record(rt, out.call.id))["revert_of"] == call_id
    bad = await run(rt, token, "orders.refund.revert", {"call_id": call_id, "amount": 5})
    assert isinstance(bad.error, InvalidInput)


async def test_a_large_revert_waits_for_a_human(runtime: Runtime) -> None:
    """Reverting a refund moves its amount back: the money policies judge it by that amount."""
    rt = runtime
    await add_order(rt, "acme", total=50_000)
    token = await issue(rt, principal="agent:support")
    (rita,) = await approvers(rt, "human:rita")
    parked = await run(rt, token, "orders.refund", BIG)
    await rt.desk.decide(rita, parked.approval["id"], approve=True, reason="ok", expected_hash=None, surface="test")
    assert (await order(rt))["refunded_minor"] == 20_000

    out = await revert(rt, token, parked.call.id, reason="customer kept the goods")
    assert out.pending and out.approval["policies"] == ["default-approve-large-money"]
    assert out.approval["arguments"] == {"call_id": parked.call.id, "reason": "customer kept the goods"}
    assert (await order(rt))["refunded_minor"] == 20_000
    view = await rt.desk.decide(rita, out.approval["id"], approve=True, reason="ok", expected_hash=None, surface="test")
    assert view["status"] == "executed" and view["result"]["order_status"] == "paid"
    assert (await order(rt))["refunded_minor"] == 0
    state = await rt.store.fetch_one(select(reversible_calls).where(reversible_calls.c.call_id == parked.call.id))
    assert state is not None and state["reverted_by"] == out.call.id
    assert (await record(rt, out.call.id))["revert_of"] == parked.call.id


async def _reverts_need_a_human(rt: Runtime) -> None:
    await rt.policies.publish(
        "acme",
        {
            "p.cedar": 'permit (principal, action, resource);\n@approval("reverts need a human")\n'
            'permit (principal, action == Chamberlain::Action::"orders.refund.revert", resource);'
        },
        author="operator:test",
    )


async def test_a_second_revert_while_one_waits_for_approval_is_refused(refunded: tuple[Runtime, str, str]) -> None:
    rt, token, call_id = refunded
    await _reverts_need_a_human(rt)
    parked = await revert(rt, token, call_id)
    assert parked.pending
    again = await revert(rt, token, call_id)
    assert isinstance(again.error, RevertPending) and again.error.extra["approval_id"] == parked.approval["id"]
    (rita,) = await approvers(rt, "human:rita")
    await rt.desk.decide(rita, parked.approval["id"], approve=False, reason="no", expected_hash=None, surface="test")
    assert (await revert(rt, token, call_id)).pending, "once that one is rejected, the call may be asked for again"


async def test_an_approved_revert_finds_the_call_reverted_meanwhile(refunded: tuple[Runtime, str, str]) -> None:
    """Another process reverted it between the approval's request and its run: the run
    claims nothing and fails, and nothing is reverted twice."""
    rt, token, call_id = refunded
    await _reverts_need_a_human(rt)
    parked = await revert(rt, token, call_id)
    assert parked.pending
    async with tenant_transaction(rt.store, "acme") as tx:
        await tx.execute(update(reversible_calls).values(reverted_by="call_elsewhere"))
    (rita,) = await approvers(rt, "human:rita")
    view = await rt.desk.decide(rita, parked.approval["id"], approve=True, reason="ok", expected_hash=None, surface="test")
    assert view["status"] == "failed" and view["error"]["code"] == "already-reverted"
    assert (await order(rt))["refunded_minor"] == 1000 and await count(rt, refund_reversals) == 0


async def test_irreversible_and_unrun_calls_say_so(refunded: tuple[Runtime, str, str]) -> None:
    rt, token, call_id = refunded
    listing = await run(rt, token, "orders.list", {})
    out = await revert(rt, token, listing.call.id)
    assert isinstance(out.error, NotReversible) and "declares no undo" in out.error.detail
    refused = await run(rt, token, "orders.refund", {**REFUND, "order_id": "o_missing"})
    assert refused.error is not None
    out = await revert(rt, token, refused.call.id)
    assert isinstance(out.error, NotReversible) and "did not run" in out.error.detail
    assert isinstance((await revert(rt, token, "call_nonexistent")).error, CallNotFound)


async def test_other_tenants_calls_are_not_found(refunded: tuple[Runtime, str, str]) -> None:
    rt, _, call_id = refunded
    globex = await issue(rt, tenant="globex", principal="agent:support")
    out = await revert(rt, globex, call_id)
    assert isinstance(out.error, CallNotFound)
    out = await run(rt, globex, "orders.refund.revert", {"call_id": call_id})
    assert isinstance(out.error, CallNotFound)
    assert (await order(rt))["refunded_minor"] == 1000


async def test_another_agents_call_needs_the_revert_right(refunded: tuple[Runtime, str, str]) -> None:
    rt, _, call_id = refunded
    other = await issue(rt, principal="agent:other", actions=["orders.*"])
    out = await revert(rt, other, call_id)
    assert isinstance(out.error, PermissionDenied) and REVERT_CALLS in out.error.detail
    supervisor = await issue(rt, principal="agent:supervisor", actions=["orders.refund.revert", REVERT_CALLS])
    assert (await revert(rt, supervisor, call_id)).ok


async def test_a_grant_without_the_revert_action_is_refused(refunded: tuple[Runtime, str, str]) -> None:
    rt, _, call_id = refunded
    narrow = await issue(rt, principal="agent:support", actions=["orders.refund"])
    out = await revert(rt, narrow, call_id)
    assert isinstance(out.error, PermissionDenied) and out.call.action_name == "orders.refund.revert"
    assert (await order(rt))["refunded_minor"] == 1000


async def test_the_window_closes(refunded: tuple[Runtime, str, str]) -> None:
    rt, token, call_id = refunded
    async with tenant_transaction(rt.store, "acme") as tx:
        await tx.execute(update(reversible_calls).values(revert_until="2020-01-01T00:00:00.000000+00:00"))
    out = await revert(rt, token, call_id)
    assert isinstance(out.error, RevertWindowClosed) and out.error.extra["revert_until"].startswith("2020")
    assert (await order(rt))["refunded_minor"] == 1000


async def test_the_agent_surface_says_what_is_reversible(runtime: Runtime) -> None:
    described = {a.name: a.describe() for a in runtime.surface}
    assert described["orders.refund"]["reversible"] == {"action": "orders.refund.revert", "window_s": 30 * 86400}
    assert described["accounts.update_email"]["reversible"] is False
    assert described["orders.refund.revert"]["reverts"] == "orders.refund"
    assert described["orders.refund.revert"]["risk"] == "money"
    assert described["orders.refund.revert"]["idempotency_key"] == "optional"


async def test_entries_of_other_calls_carry_no_revert_link(refunded: tuple[Runtime, str, str]) -> None:
    rt, _, _ = refunded
    rows = await rt.store.fetch_all(select(audit_entries.c.body).where(audit_entries.c.tenant_id == "acme"))
    assert rows and all("revert_of" not in str(r["body"]) for r in rows)


def test_undo_declarations_are_checked() -> None:
    s = Surface("t")

    @s.action("notes.read", risk="read")
    async def read_note(note_id: str) -> str:
        return note_id

    @s.action("notes.write", risk="write")
    async def write_note(text: str) -> str:
        return text

    async def compensate(original: Original, ctx: Context) -> None:
        return None

    with pytest.raises(ValueError, match="nothing to undo"):
        read_note.undo()(compensate)
    with pytest.raises(TypeError, match="async def"):
        write_note.undo()(lambda original, ctx: None)  # type: ignore[arg-type,return-value]

    async def wrong(original: Original) -> None:
        return None

    with pytest.raises(TypeError, match=r"\(original: Original, ctx: Context\)"):
        write_note.undo()(wrong)  # type: ignore[arg-type]
    write_note.undo(window="1h")(compensate)
    with pytest.raises(ValueError, match="declared twice"):
        write_note.undo()(compensate)
    with pytest.raises(ValueError, match="duration"):
        s.action("notes.delete", risk="write")(write_note.__wrapped__).undo(window="soon")
    assert s.get("notes.write.revert") is not None and s.get("notes.write").undo.window.total_seconds() == 3600  # type: ignore[union-attr]


async def test_an_erased_call_can_no_longer_be_reverted(runtime: Runtime) -> None:
    from chamberlain.audit._export import erase_payloads

    await add_order(runtime, "acme")
    token = await issue(runtime, principal="agent:support", on_behalf_of="user:carol")
    done = await run(runtime, token, "orders.refund", REFUND)
    await erase_payloads(runtime.store, "acme", call_ids=[], on_behalf_of="user:carol", reason="request 9", by="t")
    kept = await runtime.store.fetch_one(select(reversible_calls).where(reversible_calls.c.call_id == done.call.id))
    assert kept is not None and kept["arguments"] == {} and kept["result"] is None
    out = await revert(runtime, token, done.call.id)
    assert isinstance(out.error, NotReversible) and "erased" in out.error.detail
