"""``chamberlain role`` and ``chamberlain approvals``: a human decides a parked call at the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from chamberlain.cli import main
from chamberlain.demo.shop import refunds, shop
from chamberlain.pipeline import Call
from chamberlain.tenants import create_tenant, tenant_exists
from tests.conftest import issue, make_runtime, new_key
from tests.pipeline.test_gateway import add_order, count

BIG = {"order_id": "o_1", "amount": {"amount_minor": 20_000, "currency": "EUR"}, "reason": "lost in transit"}


def run(data: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--data-dir", str(data)])


def park(data: Path, order: str = "o_1") -> str:
    """A refund the default policies park, asked by agent:support; returns the approval id."""

    async def go() -> str:
        rt = make_runtime(shop, data)
        async with rt.running():
            if not await tenant_exists(rt.store, "acme"):
                await create_tenant(rt.store, rt.keys, "acme", "Acme")
            await add_order(rt, "acme", order, total=50_000)
            token = await issue(rt, principal="agent:support", on_behalf_of="user:carol")
            arguments = {**BIG, "order_id": order}
            out = await rt.gateway.call(Call("orders.refund", arguments, token, "test", idempotency_key=new_key()))
            assert out.pending, out.error
            return str(out.approval["id"])

    return asyncio.run(go())


def sweep(data: Path) -> None:
    """What the serving gateway's loop does every second."""

    async def go() -> None:
        async with make_runtime(shop, data).running() as rt:
            await rt.sweep()

    asyncio.run(go())


def refunds_made(data: Path) -> int:
    async def go() -> int:
        async with make_runtime(shop, data).running() as rt:
            return await count(rt, refunds)

    return asyncio.run(go())


def show(data: Path, approval_id: str) -> dict[str, Any]:
    result = run(data, "approvals", "show", approval_id, "--tenant", "acme")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_roles_are_given_listed_and_taken(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run(data, "tenant", "create", "acme")
    assert "human:rita is now approver in acme" in run(data, "role", "add", "acme", "rita").output
    assert "already was" in run(data, "role", "add", "acme", "human:rita").output
    assert run(data, "role", "list", "acme").output.startswith("approver\thuman:rita\t")
    assert "no tenant 'nope'" in run(data, "role", "add", "nope", "rita").output
    assert "is no longer approver" in run(data, "role", "remove", "acme", "rita").output
    assert run(data, "role", "list", "acme").output == ""
    bad = run(data, "role", "add", "acme", "robot:x")
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_approve_at_the_cli_then_the_gateway_runs_it_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    approval = park(data)
    run(data, "role", "add", "acme", "human:rita")

    listed = run(data, "approvals", "list", "--tenant", "acme").output
    assert approval in listed and "pending" in listed and "orders.refund  by agent:support  0/1" in listed
    request_hash = show(data, approval)["request_hash"]

    stale = run(data, "approvals", "approve", approval, "--tenant", "acme", "--as", "human:rita", "--reason", "ok",
                "--request-hash", "sha256:" + "0" * 64)  # fmt: skip
    assert stale.exit_code == 1 and "request" in stale.output.lower() and show(data, approval)["status"] == "pending"

    approved = run(data, "approvals", "approve", approval, "--tenant", "acme", "--as", "human:rita",
                   "--reason", "customer confirmed", "--request-hash", request_hash, "--wait", "0")  # fmt: skip
    assert approved.exit_code == 0, approved.output
    assert "approved; the gateway runs the call on its next sweep" in approved.output

    sweep(data)
    sweep(data)
    assert refunds_made(data) == 1
    view = show(data, approval)
    assert view["status"] == "executed" and view["result"]["amount"]["amount_minor"] == 20_000
    assert [s["step"] for s in view["steps"]] == ["requested", "approved", "executed"]
    assert view["steps"][1]["by"] == "human:rita" and view["steps"][1]["reason"] == "customer confirmed"
    assert run(data, "approvals", "list", "--tenant", "acme").output.strip() == "no approvals"
    assert approval in run(data, "approvals", "list", "--tenant", "acme", "--status", "executed").output


def test_reject_ends_the_call_and_refusals_name_the_rule(tmp_path: Path) -> None:
    data = tmp_path / "data"
    approval = park(data)
    args = ["approvals", "reject", approval, "--tenant", "acme", "--reason", "no"]

    no_role = run(data, *args, "--as", "human:rita")
    assert no_role.exit_code == 1 and "does not hold the approver role" in no_role.output
    run(data, "role", "add", "acme", "agent:support")
    own = run(data, *args, "--as", "agent:support")
    assert own.exit_code == 1 and "chain" in own.output and "Traceback" not in own.output
    missing = run(data, "approvals", "show", "apr_nope", "--tenant", "acme")
    assert missing.exit_code == 1 and "Traceback" not in missing.output

    run(data, "role", "add", "acme", "human:rita")
    rejected = run(data, *args, "--as", "human:rita")
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    sweep(data)
    view = show(data, approval)
    assert view["status"] == "rejected" and [s["step"] for s in view["steps"]] == ["requested", "rejected"]
    again = run(data, "approvals", "approve", approval, "--tenant", "acme", "--as", "human:rita", "--reason", "oops")
    assert again.exit_code == 1 and "rejected" in again.output
