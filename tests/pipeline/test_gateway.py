"""The whole pipeline in-process: records, transactions and refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from chamberlain import ActionError, Context, Surface
from chamberlain.app import Runtime
from chamberlain.demo.shop import orders, refunds
from chamberlain.errors import ActionFailed, CallNotFound, GrantMissing, InternalError, PermissionDenied, UnknownAction
from chamberlain.pipeline import Call
from chamberlain.store import calls, tenant_scope, tenant_transaction
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime, new_key


async def add_order(rt: Runtime, tenant: str, order_id: str = "o_1", total: int = 5000) -> None:
    async with tenant_transaction(rt.store, tenant) as tx:
        await tx.execute(
            insert(orders).values(
                tenant_id=tenant,
                id=order_id,
                customer_id="c_1",
                total_minor=total,
                refunded_minor=0,
                currency="EUR",
                status="paid",
            )
        )


async def run(rt: Runtime, token: str | None, action: str, arguments: Any) -> Any:
    return await rt.gateway.call(Call(action, arguments, token, "test", idempotency_key=new_key()))


async def record(rt: Runtime, call_id: str) -> dict[str, Any]:
    row = await rt.store.fetch_one(select(calls).where(calls.c.id == call_id))
    assert row is not None, "every call leaves a record"
    return dict(row)


async def count(rt: Runtime, table: Any, tenant: str = "acme") -> int:
    with tenant_scope(tenant):  # with tenant databases, a count is asked of the tenant's
        row = await rt.store.fetch_one(select(func.count().label("n")).select_from(table))
    assert row is not None
    return int(row["n"])


REFUND = {"order_id": "o_1", "amount": {"amount_minor": 1000, "currency": "EUR"}, "reason": "damaged"}


async def test_executed_call_commits_effect_and_record_together(runtime: Runtime) -> None:
    await add_order(runtime, "acme")
    out = await run(runtime, await issue(runtime, on_behalf_of="user:alice"), "orders.refund", REFUND)
    assert out.ok and out.result["order_status"] == "partially_refunded"
    rec = await record(runtime, out.call.id)
    assert rec["decision"] == "allowed" and rec["outcome"] == "ok"
    assert rec["tenant_id"] == "acme" and rec["principal"] == "agent:test" and rec["on_behalf_of"] == "user:alice"
    assert rec["action"] == "orders.refund" and rec["action_version"] == 1
    assert rec["input_hash"].startswith("sha256:") and rec["result_hash"].startswith("sha256:")
    stages = {"record", "authenticate", "tenant", "resolve-revert", "limits", "validate", "authorize", "check-revert"}
    stages |= {"idempotency", "policy", "execute"}
    assert set(rec["timings"]) == stages
    assert [r["stage"] for r in rec["reasons"]] == ["authenticate", "authorize", "policy"]
    assert rec["reasons"][-1]["policies"] == ["default-permit-granted"] and rec["reasons"][-1]["policy_version"] == 0
    assert len(rec["trace_id"]) == 32
    assert await count(runtime, refunds) == 1


async def test_business_refusal_rolls_back_and_is_recorded(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=500)
    too_much = dict(REFUND, amount={"amount_minor": 10_000, "currency": "EUR"})
    out = await run(runtime, await issue(runtime), "orders.refund", too_much)
    assert isinstance(out.error, ActionFailed) and out.error.extra["reason"] == "refund-exceeds-order"
    rec = await record(runtime, out.call.id)
    assert (rec["decision"], rec["outcome"]) == ("allowed", "error")
    assert rec["error_type"].endswith("/action-failed")
    assert await count(runtime, refunds) == 0


def crashing_surface(effect_table: Any) -> Surface:
    s = Surface("crash")

    @s.action("boom.write_then_crash", risk="write")
    async def crash(ctx: Context) -> None:
        await ctx.tx.execute(
            insert(effect_table).values(
                tenant_id=ctx.tenant, id="half", order_id="o", amount_minor=1, currency="EUR", reason="x", created_at="now"
            )
        )
        raise RuntimeError("database password is hunter2")

    @s.action("boom.business", risk="write")
    async def business(ctx: Context) -> None:
        await ctx.tx.execute(
            insert(effect_table).values(
                tenant_id=ctx.tenant, id="half2", order_id="o", amount_minor=1, currency="EUR", reason="x", created_at="now"
            )
        )
        raise ActionError("no", code="nope")

    @s.action("boom.slow", risk="read")
    async def slow() -> None:
        await asyncio.sleep(5)

    @s.action("boom.bad_output", risk="read")
    async def bad_output() -> int:
        return "not an int"  # type: ignore[return-value]

    @s.on_startup
    async def tables(store: Any) -> None:
        await store.create_all(effect_table.metadata)

    return s


@pytest.fixture
async def crash_rt(tmp_path: Path) -> Any:
    rt = make_runtime(crashing_surface(refunds), tmp_path / "d", action_timeout_s=0.2)
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        yield rt


async def test_handler_crash_rolls_back_and_leaks_nothing(crash_rt: Runtime) -> None:
    out = await run(crash_rt, await issue(crash_rt), "boom.write_then_crash", {})
    assert isinstance(out.error, InternalError) and out.error.retryable
    assert "hunter2" not in repr(out.error.to_problem())
    assert await count(crash_rt, refunds) == 0
    rec = await record(crash_rt, out.call.id)
    assert rec["outcome"] == "error" and rec["error_type"].endswith("/internal-error")

    out = await run(crash_rt, await issue(crash_rt), "boom.business", {})
    assert isinstance(out.error, ActionFailed) and await count(crash_rt, refunds) == 0


async def test_handler_timeout_and_broken_output_are_internal_errors(crash_rt: Runtime) -> None:
    token = await issue(crash_rt)
    slow = await run(crash_rt, token, "boom.slow", {})
    assert isinstance(slow.error, InternalError) and "did not finish" in slow.error.detail
    bad = await run(crash_rt, token, "boom.bad_output", {})
    assert isinstance(bad.error, InternalError) and "output contract" in bad.error.detail


async def test_every_refusal_leaves_a_record(runtime: Runtime) -> None:
    narrow = await issue(runtime, actions=["customers.get"])
    cases = [
        (None, "orders.get", {"order_id": "o"}, GrantMissing, None),
        (narrow, "no.such", {}, UnknownAction, "acme"),
        (narrow, "orders.get", {"order_id": "o"}, PermissionDenied, "acme"),
    ]
    for token, action, args, error, tenant in cases:
        out = await run(runtime, token, action, args)
        assert isinstance(out.error, error)
        rec = await record(runtime, out.call.id)
        assert (rec["decision"], rec["outcome"], rec["tenant_id"]) == ("refused", "refused", tenant)
        assert rec["error_type"] == out.error.type_uri


async def test_records_are_read_by_their_grant_or_an_auditor_only(runtime: Runtime) -> None:
    await add_order(runtime, "acme")
    token = await issue(runtime)
    out = await run(runtime, token, "orders.get", {"order_id": "o_1"})
    own = await runtime.authority.verify(token)
    sibling = await runtime.authority.verify(await issue(runtime, "acme", ["orders.*"]))
    auditor = await runtime.authority.verify(await issue(runtime, "acme", ["calls.read"]))
    other_tenant = await runtime.authority.verify(await issue(runtime, "globex"))
    assert (await runtime.gateway.record(own, out.call.id))["id"] == out.call.id
    assert (await runtime.gateway.record(auditor, out.call.id))["id"] == out.call.id
    for stranger in (sibling, other_tenant):
        with pytest.raises(CallNotFound):
            await runtime.gateway.record(stranger, out.call.id)


async def test_tenants_see_only_their_own_business_rows(runtime: Runtime) -> None:
    await add_order(runtime, "acme", "o_1", total=111)
    await add_order(runtime, "globex", "o_1", total=222)
    acme = await run(runtime, await issue(runtime, "acme"), "orders.get", {"order_id": "o_1"})
    globex = await run(runtime, await issue(runtime, "globex"), "orders.get", {"order_id": "o_1"})
    assert acme.result["total"]["amount_minor"] == 111 and globex.result["total"]["amount_minor"] == 222


async def test_actions_for_lists_only_what_the_grant_covers(runtime: Runtime) -> None:
    grant = await runtime.authority.verify(await issue(runtime, actions=["orders.*"]))
    names = [a.name for a in runtime.gateway.actions_for(grant)]
    assert names == ["orders.get", "orders.list", "orders.refund", "orders.refund.revert"]


async def test_concurrent_refunds_never_lose_an_update(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=1000)
    token = await issue(runtime)
    one = dict(REFUND, amount={"amount_minor": 100, "currency": "EUR"})
    outcomes = await asyncio.gather(*(run(runtime, token, "orders.refund", one) for _ in range(20)))
    assert sum(o.ok for o in outcomes) == 10
    assert all(o.error.extra["reason"] == "refund-exceeds-order" for o in outcomes if not o.ok)
    row = await runtime.store.fetch_one(select(orders.c.refunded_minor, orders.c.status).where(orders.c.id == "o_1"))
    assert dict(row) == {"refunded_minor": 1000, "status": "refunded"}  # type: ignore[arg-type]
    assert await count(runtime, refunds) == 10


async def test_a_handler_waiting_on_something_slow_does_not_block_writes(tmp_path: Path) -> None:
    """The call's transaction begins at its first statement, not when the handler starts."""
    release = asyncio.Event()
    s = Surface("slow")

    @s.action("upstream.wait", risk="read")
    async def wait_for_upstream() -> str:
        await release.wait()
        return "done"

    rt = make_runtime(s, tmp_path / "d")
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        token = await issue(rt)
        slow = asyncio.create_task(run(rt, token, "upstream.wait", {}))
        await asyncio.sleep(0)  # let the slow call reach its handler
        # Another call, which must write its record, completes while the first still waits.
        refused = await asyncio.wait_for(run(rt, token, "no.such", {}), timeout=10)
        assert isinstance(refused.error, UnknownAction) and not slow.done()
        release.set()
        assert (await slow).result == {"result": "done"}


def test_handler_fields_cannot_override_problem_members() -> None:
    from chamberlain.errors import ActionFailed

    problem = ActionFailed("no", reason="x", status=200, type="https://evil.example", extra_field=1).to_problem(call_id="c")
    assert problem["status"] == 422 and problem["type"].endswith("/action-failed")
    assert problem["extra_field"] == 1 and problem["call_id"] == "c" and problem["reason"] == "x"
