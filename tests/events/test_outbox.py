"""The outbox: an event exists exactly when the change that caused it committed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from chamberlain import ActionError, Context, Surface
from chamberlain.app import Runtime
from chamberlain.demo import shop
from chamberlain.events import Batch, EventFilter, envelope
from chamberlain.pipeline import Call
from chamberlain.store import events, tenant_transaction
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime, permit_all
from tests.pipeline.test_gateway import REFUND, add_order, run


async def _all(rt: Runtime, tenant: str = "acme") -> list[dict[str, Any]]:
    return await rt.events.read(tenant, 0, 10_000)


async def test_an_event_is_written_with_the_change_and_only_then(runtime: Runtime) -> None:
    await permit_all(runtime)
    await add_order(runtime, "acme")
    token = await issue(runtime)
    ok = await run(runtime, token, "orders.refund", REFUND)
    assert ok.ok
    too_much = {**REFUND, "amount": {"amount_minor": 999_999, "currency": "EUR"}}
    refused = await run(runtime, token, "orders.refund", too_much)
    assert not refused.ok

    refunds = [e for e in await _all(runtime) if e["type"] == "order.refunded"]
    assert len(refunds) == 1, "the refused refund rolled back, and its event with it"
    event = refunds[0]
    assert event["specversion"] == "1.0" and event["id"].startswith("evt_") and event["source"] == "/tenants/acme"
    assert event["subject"] == "orders/o_1" and event["callid"] == ok.call.id and event["tenant"] == "acme"
    assert event["data"]["amount"] == {"amount_minor": 1000, "currency": "EUR"}
    assert event["traceparent"].split("-")[1] == ok.call.trace_id


async def test_a_handler_that_fails_after_emitting_leaves_no_event(tmp_path: Any) -> None:
    surface = Surface("s")
    surface.event("thing.happened", "something happened")

    @surface.action("things.do", risk="write")
    async def do(ctx: Context, fail: bool = False) -> dict[str, bool]:
        await ctx.emit("thing.happened", {"fail": fail})
        if fail:
            raise ActionError("changed my mind", code="no")
        return {"ok": True}

    rt = make_runtime(surface, tmp_path / "d")
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        await permit_all(rt)
        token = await issue(rt)
        assert not (await run(rt, token, "things.do", {"fail": True})).ok
        assert (await run(rt, token, "things.do", {})).ok
        assert [e["data"] for e in await _all(rt) if e["type"] == "thing.happened"] == [{"fail": False}]


async def test_undeclared_types_cannot_be_emitted(runtime: Runtime) -> None:
    async with tenant_transaction(runtime.store, "acme") as tx:
        with pytest.raises(ValueError, match="not declared"):
            await runtime.events.emit(tx, "acme", "order.vanished")


async def test_subscribers_hear_of_an_event_only_after_its_commit(runtime: Runtime) -> None:
    async with runtime.events.subscribe("acme", lambda e: True) as sub:
        with pytest.raises(RuntimeError):
            async with tenant_transaction(runtime.store, "acme") as tx:
                await runtime.events.emit(tx, "acme", "policy.changed", {"n": 1})
                raise RuntimeError("roll back")
        async with tenant_transaction(runtime.store, "acme") as tx:
            await runtime.events.emit(tx, "acme", "policy.changed", {"n": 2})
            await asyncio.sleep(0.05)
            assert sub.queue.empty(), "nothing is published before the commit"
        (got,) = await sub.next(5) or []
        assert got["data"] == {"n": 2}
        assert sub.queue.empty()


async def test_sequences_are_per_tenant_and_gapless(runtime: Runtime) -> None:
    async def one(tenant: str) -> None:
        async with tenant_transaction(runtime.store, tenant) as tx:
            await runtime.events.emit(tx, tenant, "policy.changed")

    await asyncio.gather(*(one(t) for _ in range(30) for t in ("acme", "globex")))
    for tenant in ("acme", "globex"):
        seqs = [e["sequence"] for e in await _all(runtime, tenant)]
        assert seqs == list(range(1, 31))
    ids = [e["id"] for t in ("acme", "globex") for e in await _all(runtime, t)]
    assert len(set(ids)) == 60


async def test_gateway_events_for_approvals_grants_and_policies(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=500_000)
    agent = await issue(runtime, on_behalf_of="user:alice")
    big = {**REFUND, "amount": {"amount_minor": 200_000, "currency": "EUR"}}
    parked = await run(runtime, agent, "orders.refund", big)
    await runtime.roles.add("acme", "human:rita", "approver")
    rita = await runtime.authority.verify(await issue(runtime, principal="human:rita", actions=["calls.read"]))
    await runtime.desk.decide(rita, parked.approval["id"], approve=True, reason="ok", expected_hash=None, surface="t")
    grant = await runtime.authority.issue("acme", "agent:x", ["orders.get"], timedelta(hours=1))
    await runtime.authority.revoke("acme", grant.id, "done")
    await permit_all(runtime)

    seen = [(e["type"], e.get("subject")) for e in await _all(runtime)]
    call = f"calls/{parked.call.id}"
    assert parked.approval is not None
    assert seen[:4] == [
        ("approval.requested", call),
        ("approval.approved", call),
        ("order.refunded", "orders/o_1"),
        ("approval.executed", call),
    ]
    assert seen[4][0] == "grant.revoked" and seen[5][0] == "policy.changed"


async def test_prune_keeps_the_window_and_each_tenants_newest(runtime: Runtime) -> None:
    for tenant in ("acme", "acme", "acme", "globex"):
        async with tenant_transaction(runtime.store, tenant) as tx:
            await runtime.events.emit(tx, tenant, "policy.changed")
    async with tenant_transaction(runtime.store, "acme") as tx:
        await tx.execute(update(events).values(time="2000-01-01T00:00:00.000000+00:00"))
    assert await runtime.events.prune(3600) == 2
    assert await runtime.events.oldest("acme") == 3 and await runtime.events.latest("acme") == 3
    assert await runtime.events.oldest("globex") == 1
    async with tenant_transaction(runtime.store, "acme") as tx:
        assert (await runtime.events.emit(tx, "acme", "policy.changed"))["sequence"] == 4


def test_envelope_omits_what_is_absent() -> None:
    row = {"tenant_id": "t", "seq": 3, "id": "evt_1", "type": "a.b", "time": "2026-01-01T00:00:00Z", "data": None}
    event = envelope(row)
    assert "subject" not in event and "traceparent" not in event and "callid" not in event
    assert event["data"] is None and event["sequence"] == 3


async def test_call_through_gateway_uses_call_api(runtime: Runtime) -> None:
    """A read-only call emits nothing."""
    token = await issue(runtime)
    await add_order(runtime, "acme")
    assert (await runtime.gateway.call(Call("orders.get", {"order_id": "o_1"}, token, "test"))).ok
    assert await _all(runtime) == []


async def test_a_slow_consumer_is_cut_off_with_a_reason_not_buffered(runtime: Runtime) -> None:
    from chamberlain.surfaces.rest._events import EventRoutes

    runtime.events.queue_size = 3
    async with runtime.events.subscribe("acme", lambda e: True) as sub:
        for n in range(10):
            async with tenant_transaction(runtime.store, "acme") as tx:
                await runtime.events.emit(tx, "acme", "policy.changed", {"n": n})
        for _ in range(100):
            if sub.overflowed:
                break
            await asyncio.sleep(0.01)
        assert sub.overflowed and sub.backlog <= 3, "the backlog never grows past its bound"
        routes = EventRoutes(runtime.gateway, None, heartbeat_s=5)
        frames = [f async for f in routes._live(await issue(runtime), sub, 0)]
    assert len(frames) == 1 and frames[0].startswith(b"event: error\n")
    assert b"slow-consumer" in frames[0] and b"resume from id 0" in frames[0]


async def test_streams_with_equal_filters_share_one_batch_and_a_lagging_one_gets_all_in_order(runtime: Runtime) -> None:
    policy, grants = EventFilter(types=frozenset({"policy.changed"})), EventFilter(types=frozenset({"grant.revoked"}))
    async with (
        runtime.events.subscribe("acme", policy) as a,
        runtime.events.subscribe("acme", EventFilter(types=frozenset({"policy.changed"}))) as b,
        runtime.events.subscribe("acme", grants) as other,
    ):
        for n in range(3):
            async with tenant_transaction(runtime.store, "acme") as tx:
                await runtime.events.emit(tx, "acme", "policy.changed", {"n": n})
            while a.queue.empty():
                await asyncio.sleep(0.01)
            first = await a.next(5)
            assert isinstance(first, Batch) and [e["data"]["n"] for e in first] == [n]
        lagged = await b.next(5)
        assert [e["data"]["n"] for e in lagged or []] == [0, 1, 2], "three batches, drained at once, in order"
        assert b.backlog == 0 and other.queue.empty() and await other.next(0.05) is None


async def test_events_another_process_commits_reach_this_ones_subscribers(tmp_path: Path) -> None:
    """Two runtimes on one database stand for two gateway processes: the outbox bus finds
    the other's commits at its next poll, in order, once each."""
    here, there = make_runtime(shop, tmp_path, event_poll_s=0.05), make_runtime(shop, tmp_path)
    async with here.running(), there.running():
        await create_tenant(here.store, here.keys, "acme", "Acme")
        async with here.events.subscribe("acme", EventFilter()) as sub:
            for n in range(3):
                async with tenant_transaction(there.store, "acme") as tx:
                    await there.events.emit(tx, "acme", "policy.changed", {"n": n})
            got: list[dict[str, Any]] = []
            while len(got) < 3:
                got += await sub.next(5) or []
    assert [e["data"]["n"] for e in got] == [0, 1, 2] and [e["sequence"] for e in got] == [1, 2, 3]


async def test_a_follower_asked_to_stop_stops_even_if_the_driver_turns_that_into_an_error(runtime: Runtime) -> None:
    """psycopg turns a cancelled query into "the connection is closed"; a follower that
    retried that forever would never let its process shut down."""
    from chamberlain.events import OutboxBus

    started = asyncio.Event()

    async def read(tenant: str, after: int, limit: int) -> list[dict[str, Any]]:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("the connection is closed") from None  # what the driver does
        return []

    async def follow() -> None:
        async for _ in OutboxBus(read, poll_s=0.0).follow("acme", 0):
            pass

    task = asyncio.create_task(follow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)  # a hang guard: without the fix it retries forever
