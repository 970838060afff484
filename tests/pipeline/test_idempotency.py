"""Idempotency keys: a retried write runs at most once, and says it was a replay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chamberlain import ActionError, Context, Surface
from chamberlain.app import Runtime
from chamberlain.demo.shop import refunds, shop
from chamberlain.errors import (
    ActionFailed,
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
)
from chamberlain.pipeline import Call, Outcome
from chamberlain.store import approvals, audit_entries, events, idempotency_keys
from chamberlain.tenants import create_tenant
from chamberlain.timeutil import utc_now
from tests.conftest import issue, make_runtime, permit_all
from tests.pipeline.test_gateway import REFUND, add_order, count, record

BIG = {**REFUND, "amount": {"amount_minor": 20_000, "currency": "EUR"}}


@asynccontextmanager
async def opened(surface: Surface, data: Path, fresh: bool = True, **settings: Any) -> AsyncIterator[Runtime]:
    """A runtime over ``surface``; a fresh one has tenant acme with permit-all policies."""
    rt = make_runtime(surface, data, **settings)
    async with rt.running():
        if fresh:
            await create_tenant(rt.store, rt.keys, "acme", "Acme")
            await permit_all(rt)
        yield rt


async def keyed(rt: Runtime, token: str, key: str | None, action: str = "orders.refund", args: Any = REFUND) -> Outcome:
    return await rt.gateway.call(Call(action, args, token, "test", idempotency_key=key))


async def test_a_retry_with_the_same_key_gets_the_first_outcome_and_runs_nothing(runtime: Runtime) -> None:
    await add_order(runtime, "acme")
    token = await issue(runtime)
    first = await keyed(runtime, token, "k-1")
    again = await keyed(runtime, token, "k-1")
    assert first.ok and first.replay_of is None
    assert again.ok and again.replay_of == first.call.id and again.shown_id == first.call.id
    assert again.result == first.result and again.result_hash == first.result_hash
    assert await count(runtime, refunds) == 1
    replay = await record(runtime, again.call.id)
    assert replay["decision"] == "replayed" and replay["outcome"] == "replayed"
    assert {"stage": "idempotency", "replay_of": first.call.id} in replay["reasons"]
    kinds = [r["kind"] for r in await runtime.store.fetch_all(select(audit_entries).order_by(audit_entries.c.idx))]
    assert kinds[-2:] == ["call.executed", "call.replayed"], "the retry is in the audit log too"


async def test_concurrent_duplicates_run_once(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=1_000_000)
    token = await issue(runtime)
    outcomes = await asyncio.gather(*(keyed(runtime, token, "same") for _ in range(25)))
    assert await count(runtime, refunds) == 1
    ran = [o for o in outcomes if o.ok and o.replay_of is None]
    assert len(ran) == 1
    for o in outcomes:
        if o is ran[0]:
            continue
        if o.ok:
            assert o.replay_of == ran[0].call.id and o.result == ran[0].result
        else:
            assert isinstance(o.error, IdempotencyKeyInUse) and o.error.extra["first_call_id"] == ran[0].call.id


async def test_the_same_key_with_other_arguments_is_refused(runtime: Runtime) -> None:
    await add_order(runtime, "acme")
    token = await issue(runtime)
    first = await keyed(runtime, token, "k-2")
    other = await keyed(runtime, token, "k-2", args={**REFUND, "reason": "something else"})
    assert isinstance(other.error, IdempotencyKeyReused) and other.error.status == 422
    assert other.error.extra["first_call_id"] == first.call.id
    assert await count(runtime, refunds) == 1


async def test_keys_are_per_principal_and_action_and_must_be_well_formed(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=1_000_000)
    one, two = await issue(runtime, principal="agent:one"), await issue(runtime, principal="agent:two")
    assert (await keyed(runtime, one, "k")).replay_of is None
    assert (await keyed(runtime, two, "k")).replay_of is None, "another agent's key is its own"
    assert (await keyed(runtime, one, "k", "orders.get", {"order_id": "o_1"})).replay_of is None
    assert await count(runtime, refunds) == 2
    for bad in ["", "x" * 256, "has space", "naïve"]:
        out = await keyed(runtime, one, bad)
        assert isinstance(out.error, IdempotencyKeyInvalid) and out.error.status == 400, bad


async def test_a_business_refusal_is_kept_a_server_error_is_not(tmp_path: Path) -> None:
    surface = Surface("t")
    runs: list[str] = []

    @surface.action("things.do", risk="write")
    async def do(what: str, ctx: Context) -> dict[str, str]:
        runs.append(what)
        if what == "refuse":
            raise ActionError("no", code="nope")
        if what == "crash" and runs.count("crash") == 1:
            raise RuntimeError("the database went away")
        return {"did": what}

    async with opened(surface, tmp_path) as rt:
        token = await issue(rt)
        refused = await keyed(rt, token, "r", "things.do", {"what": "refuse"})
        again = await keyed(rt, token, "r", "things.do", {"what": "refuse"})
        assert isinstance(again.error, ActionFailed) and again.error.extra["reason"] == "nope"
        assert again.replay_of == refused.call.id and runs.count("refuse") == 1
        crashed = await keyed(rt, token, "c", "things.do", {"what": "crash"})
        assert crashed.error is not None and crashed.error.status == 500
        retried = await keyed(rt, token, "c", "things.do", {"what": "crash"})
        assert retried.ok and retried.replay_of is None and runs.count("crash") == 2, "a 500 released the key"


async def test_a_key_still_running_is_in_use_with_retry_after(tmp_path: Path) -> None:
    surface = Surface("t")
    started, gate = asyncio.Event(), asyncio.Event()

    @surface.action("things.slow", risk="write")
    async def slow(ctx: Context) -> dict[str, bool]:
        started.set()
        await gate.wait()
        return {"done": True}

    async with opened(surface, tmp_path) as rt:
        token = await issue(rt)
        first = asyncio.create_task(keyed(rt, token, "s", "things.slow", {}))
        await asyncio.wait_for(started.wait(), 5)
        assert await rt.store.fetch_all(select(idempotency_keys)) == [], "nothing is written before the effect"
        busy = await keyed(rt, token, "s", "things.slow", {})
        assert isinstance(busy.error, IdempotencyKeyInUse) and busy.error.status == 409 and busy.error.retryable
        assert busy.error.extra["retry_after"] == 1
        gate.set()
        done = await first
        after = await keyed(rt, token, "s", "things.slow", {})
        assert after.replay_of == done.call.id and after.result == {"done": True}


async def test_a_parked_call_is_not_parked_twice(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=500_000)
    token = await issue(runtime)
    parked = await keyed(runtime, token, "big", args=BIG)
    again = await keyed(runtime, token, "big", args=BIG)
    assert parked.pending and again.pending and again.replay_of == parked.call.id
    assert again.approval == parked.approval
    assert len(await runtime.store.fetch_all(select(approvals))) == 1


async def test_a_policy_refusal_is_not_kept(tmp_path: Path) -> None:
    rt = make_runtime(shop, tmp_path)
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        await add_order(rt, "acme")
        token = await issue(rt)
        await rt.policies.publish("acme", {"deny.cedar": "forbid (principal, action, resource);"}, author="op:test")
        denied = await keyed(rt, token, "p")
        assert denied.error is not None and denied.error.code == "policy-denied"
        await permit_all(rt)
        assert (await keyed(rt, token, "p")).ok, "the same key runs once policy allows it"


async def test_keys_survive_a_restart_and_expire(tmp_path: Path) -> None:
    later = timedelta(0)

    def clock() -> datetime:
        return utc_now() + later

    async with opened(shop, tmp_path, idempotency_ttl_s=60) as rt:
        await add_order(rt, "acme", total=1_000_000)
        token = await issue(rt)
        first = await keyed(rt, token, "kept")
    async with opened(shop, tmp_path, fresh=False, idempotency_ttl_s=60) as rt:
        rt.gateway.idempotency.clock = clock
        assert (await keyed(rt, token, "kept")).replay_of == first.call.id, "kept across a restart"
        later = timedelta(seconds=61)
        assert (await keyed(rt, token, "kept")).replay_of is None, "after its time the key is new again"
        assert await count(rt, refunds) == 2
        assert await rt.gateway.idempotency.prune() == 0, "the renewed key has not expired"
        later = timedelta(seconds=122)
        assert await rt.gateway.idempotency.prune() == 1


async def test_money_actions_require_a_key_unless_declared_otherwise(runtime: Runtime, tmp_path: Path) -> None:
    await add_order(runtime, "acme")
    token = await issue(runtime)
    unkeyed = await keyed(runtime, token, None)
    assert isinstance(unkeyed.error, IdempotencyKeyRequired) and unkeyed.error.status == 400
    assert await count(runtime, refunds) == 0 and (await record(runtime, unkeyed.call.id))["outcome"] == "refused"
    assert (await keyed(runtime, token, None, "orders.get", {"order_id": "o_1"})).ok, "reads need none"

    surface = Surface("t")

    @surface.action("cash.count", risk="money", idempotency_key="optional")
    async def count_cash() -> int:
        return 3

    @surface.action("notes.write", risk="write", idempotency_key="required")
    async def write_note(text: str) -> str:
        return text

    async with opened(surface, tmp_path / "t") as rt:
        token = await issue(rt)
        assert (await keyed(rt, token, None, "cash.count", {})).ok
        needs = await keyed(rt, token, None, "notes.write", {"text": "x"})
        assert isinstance(needs.error, IdempotencyKeyRequired)
        assert [a.requires_idempotency_key for a in surface] == [False, True]
    with pytest.raises(ValueError, match="idempotency_key"):
        surface.action("x.y", risk="write", idempotency_key="always")  # type: ignore[arg-type]


async def test_two_processes_running_one_key_commit_one_effect(tmp_path: Path) -> None:
    """Two runtimes on one database stand for two gateway processes, each unaware that
    the other runs the same key: both run the handler, the key's row lets one commit."""
    surface = Surface("t")
    surface.event("thing.done", "A thing was done.")
    both_in, first_done, arrived = asyncio.Barrier(2), asyncio.Event(), []

    @surface.action("things.do", risk="write")
    async def do(ctx: Context) -> dict[str, bool]:
        arrived.append(ctx.call_id)
        await both_in.wait()  # both processes are running the key now
        if ctx.call_id == arrived[1]:
            # One thread stands for two processes here, so the second writes only after the
            # first committed (SQLite's lock would otherwise block the whole thread).
            await first_done.wait()
        await ctx.emit("thing.done", {})
        return {"done": True}

    async with opened(surface, tmp_path) as one, opened(surface, tmp_path, fresh=False) as two:
        token = await issue(one)
        calls = [asyncio.create_task(keyed(rt, token, "once", "things.do", {})) for rt in (one, two)]
        await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        first_done.set()
        outcomes = await asyncio.gather(*calls)
        done = [o for o in outcomes if o.ok]
        (lost,) = [o for o in outcomes if not o.ok]
        assert len(done) == 1 and isinstance(lost.error, IdempotencyKeyInUse) and lost.error.retryable
        assert len(await one.store.fetch_all(select(events).where(events.c.type == "thing.done"))) == 1, (
            "the loser's effect rolled back"
        )
        retried = await keyed(two, token, "once", "things.do", {})
        assert retried.replay_of == done[0].call.id
