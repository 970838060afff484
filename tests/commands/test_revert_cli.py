"""``chamberlain revert``: one call at once; an agent's calls as a dry run, then for real."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chamberlain.demo.shop import orders, shop
from chamberlain.pipeline import Call
from chamberlain.policy import default_files
from chamberlain.store import calls
from chamberlain.tenants import create_tenant
from tests.commands.test_approvals import run
from tests.conftest import issue, make_runtime, new_key
from tests.pipeline.test_gateway import add_order

SMALL = {"amount": {"amount_minor": 500, "currency": "EUR"}, "reason": "damaged"}
LARGE = {"amount": {"amount_minor": 20_000, "currency": "EUR"}, "reason": "lost"}


def prepare(data: Path) -> dict[str, Any]:
    """agent:rogue refunds twice (small), edits an e-mail and reads; agent:good refunds once."""

    async def go() -> dict[str, Any]:
        async with make_runtime(shop, data).running() as rt:
            await create_tenant(rt.store, rt.keys, "acme", "Acme")
            for order in ("o_1", "o_2", "o_3"):
                await add_order(rt, "acme", order, total=50_000)
            rogue = await issue(rt, principal="agent:rogue")
            good = await issue(rt, principal="agent:good")
            ids: dict[str, Any] = {}

            async def call(token: str, action: str, arguments: dict[str, Any]) -> str:
                out = await rt.gateway.call(Call(action, arguments, token, "test", idempotency_key=new_key()))
                assert out.error is None, out.error
                return out.call.id

            ids["first"] = await call(rogue, "orders.refund", {"order_id": "o_1", **SMALL})
            ids["second"] = await call(rogue, "orders.refund", {"order_id": "o_2", **SMALL})
            ids["read"] = await call(rogue, "orders.list", {})
            ids["good"] = await call(good, "orders.refund", {"order_id": "o_3", **SMALL})
            return ids

    return asyncio.run(go())


def refunded(data: Path) -> dict[str, int]:
    async def go() -> dict[str, int]:
        async with make_runtime(shop, data).running() as rt:
            rows = await rt.store.fetch_all(select(orders.c.id, orders.c.refunded_minor))
            return {r["id"]: r["refunded_minor"] for r in rows}

    return asyncio.run(go())


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_bulk_revert_is_a_dry_run_first(data: Path) -> None:
    ids = prepare(data)
    dry = run(data, "revert", "--tenant", "acme", "--agent", "agent:rogue", "--since", "1h", "--json")
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)
    assert [p["call_id"] for p in planned] == [ids["second"], ids["first"]]  # newest first; the read is left out
    assert {p["status"] for p in planned} == {"revert"} and all(p["outcome"] == {} for p in planned)
    assert refunded(data) == {"o_1": 500, "o_2": 500, "o_3": 500}

    text = run(data, "revert", "--tenant", "acme", "--agent", "agent:rogue", "--since", "1h")
    assert "dry run: nothing was changed" in text.output and "2 revert" in text.output
    assert refunded(data) == {"o_1": 500, "o_2": 500, "o_3": 500}

    done = run(data, "revert", "--tenant", "acme", "--agent", "agent:rogue", "--since", "1h", "--execute", "--json")
    assert done.exit_code == 0, done.output
    assert [p["outcome"]["status"] for p in json.loads(done.output)] == ["reverted", "reverted"]
    assert refunded(data) == {"o_1": 0, "o_2": 0, "o_3": 500}  # agent:good's refund stands

    again = run(data, "revert", "--tenant", "acme", "--agent", "agent:rogue", "--since", "1h")
    assert "2 reverted" in again.output and "dry run" not in again.output


def test_each_bulk_revert_is_a_governed_call_of_the_operator(data: Path) -> None:
    prepare(data)
    done = run(data, "revert", "--tenant", "acme", "--agent", "agent:rogue", "--since", "1h", "--execute", "--as", "human:ops")
    assert done.exit_code == 0, done.output

    async def records() -> list[dict[str, Any]]:
        async with make_runtime(shop, data).running() as rt:
            rows = await rt.store.fetch_all(select(calls).where(calls.c.action == "orders.refund.revert"))
            return [dict(r) for r in rows]

    rows = asyncio.run(records())
    assert len(rows) == 2 and {r["principal"] for r in rows} == {"human:ops"}
    assert all(r["surface"] == "cli" and r["decision"] == "allowed" and r["revert_of"] for r in rows)
    assert all(any(reason["stage"] == "policy" for reason in r["reasons"]) for r in rows)


def test_one_call_reverts_at_once_and_refusals_fail_the_command(data: Path) -> None:
    ids = prepare(data)
    done = run(data, "revert", ids["first"], "--tenant", "acme", "--reason", "wrong order")
    assert done.exit_code == 0 and "reverted by call_" in done.output, done.output
    assert refunded(data)["o_1"] == 0
    again = run(data, "revert", ids["first"], "--tenant", "acme")
    assert again.exit_code == 1 and "refused: already-reverted" in again.output
    final = run(data, "revert", ids["read"], "--tenant", "acme")
    assert final.exit_code == 1 and "refused: not-reversible" in final.output
    missing = run(data, "revert", "call_nope", "--tenant", "acme")
    assert missing.exit_code == 1 and "refused: call-not-found" in missing.output


def test_a_large_revert_waits_for_approval(data: Path) -> None:
    """Reverting 200.00 moves more than the default threshold: the operator's revert is parked too."""

    async def go() -> None:
        async with make_runtime(shop, data).running() as rt:
            await create_tenant(rt.store, rt.keys, "acme", "Acme")
            await rt.policies.publish("acme", {"p.cedar": "permit (principal, action, resource);"}, author="t")
            await add_order(rt, "acme", "o_1", total=50_000)
            token = await issue(rt, principal="agent:rogue")
            refund = Call("orders.refund", {"order_id": "o_1", **LARGE}, token, "t", idempotency_key=new_key())
            assert (await rt.gateway.call(refund)).ok
            await rt.policies.publish("acme", default_files(10_000), author="t")

    asyncio.run(go())
    done = run(data, "revert", "--tenant", "acme", "--agent", "agent:rogue", "--since", "1h", "--execute")
    assert done.exit_code == 0 and "waiting for approval apr_" in done.output, done.output
    assert refunded(data)["o_1"] == 20_000


def test_bad_ranges_are_usage_errors(data: Path) -> None:
    prepare(data)
    assert run(data, "revert", "--tenant", "acme").exit_code == 2
    assert run(data, "revert", "--tenant", "acme", "--agent", "agent:rogue").exit_code == 2
    bad = run(data, "revert", "--tenant", "acme", "--agent", "agent:rogue", "--since", "yesterday")
    assert bad.exit_code == 1 and "neither a duration" in bad.output
    rogue = ("revert", "--tenant", "acme", "--agent", "agent:rogue")
    iso = run(data, *rogue, "--since", "2020-01-01T00:00:00", "--until", "2020-01-02")
    assert iso.exit_code == 0 and "nothing to revert" in iso.output
