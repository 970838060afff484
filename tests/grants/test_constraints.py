"""Argument constraints travel in the token and are judged against validated arguments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from chamberlain.app import Runtime
from chamberlain.demo.shop import customers
from chamberlain.errors import ConstraintViolated, PermissionDenied
from chamberlain.grants import attenuate
from chamberlain.grants._constraints import Constraint, argument_facts
from chamberlain.pipeline import Call
from chamberlain.store import tenant_transaction
from tests.conftest import new_key, permit_all
from tests.pipeline.test_gateway import REFUND, add_order


def refund(amount: int) -> dict[str, object]:
    return dict(REFUND, amount={"amount_minor": amount, "currency": "EUR"})


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("orders.refund: amount.amount_minor <= 5000", Constraint("orders.refund", "amount.amount_minor", "<=", 5000)),
        ('customers.*: region == "EU"', Constraint("customers.*", "region", "==", "EU")),
        ("*: dry_run == true", Constraint("*", "dry_run", "==", True)),
    ],
)
def test_constraints_parse_and_print_back(text: str, parsed: Constraint) -> None:
    assert Constraint.parse(text) == parsed
    assert Constraint.parse(str(parsed)) == parsed


@pytest.mark.parametrize("bad", ["orders.refund amount <= 5", "Orders: a == 1", "orders.refund: amount <= lots", "x: == 1"])
def test_bad_constraints_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Constraint.parse(bad)


def test_argument_facts_cover_scalar_leaves() -> None:
    code, params = argument_facts({"a": {"b": 1, "c": "x"}, "d": [1], "e": None, "f": True})
    assert code.count("arg(") == 3
    assert {params[k] for k in params if k.startswith("ap")} == {"a.b", "a.c", "f"}


async def test_refund_limit_is_enforced_by_the_grant(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=10_000)
    grant = await runtime.authority.issue(
        "acme", "agent:support", ["orders.*"], timedelta(hours=1), constraints=["orders.refund: amount.amount_minor <= 5000"]
    )
    small = await runtime.gateway.call(Call("orders.refund", refund(4000), grant.token, "test", idempotency_key=new_key()))
    assert small.ok
    big = await runtime.gateway.call(Call("orders.refund", refund(6000), grant.token, "test", idempotency_key=new_key()))
    assert isinstance(big.error, ConstraintViolated)
    assert big.error.extra["constraints"] == ["orders.refund: amount.amount_minor <= 5000"]
    assert big.error.type_uri.endswith("/constraint-violated") and big.error.status == 403
    # Other actions of the grant are untouched, and discovery still lists the constrained one.
    assert (await runtime.gateway.call(Call("orders.get", {"order_id": "o_1"}, grant.token, "test"))).ok
    verified = await runtime.authority.verify(grant.token)
    assert "orders.refund" in [a.name for a in runtime.gateway.actions_for(verified)]


async def test_missing_argument_fails_the_constraint(runtime: Runtime) -> None:
    await permit_all(runtime)
    async with tenant_transaction(runtime.store, "acme") as tx:
        for cid, region in (("c_1", "EU"), ("c_2", "US")):
            await tx.execute(
                insert(customers).values(tenant_id="acme", id=cid, name=cid, email=f"{cid}@x.example", region=region)
            )
    grant = await runtime.authority.issue(
        "acme", "agent:analyst", ["customers.export"], timedelta(hours=1), constraints=['customers.export: region == "EU"']
    )
    eu = await runtime.gateway.call(Call("customers.export", {"region": "EU"}, grant.token, "test"))
    assert eu.ok and eu.result["count"] == 1
    for arguments in ({"region": "US"}, {}):
        refused = await runtime.gateway.call(Call("customers.export", arguments, grant.token, "test"))
        assert isinstance(refused.error, ConstraintViolated)


async def test_attenuation_can_add_constraints_but_not_lift_them(runtime: Runtime) -> None:
    await add_order(runtime, "acme", total=10_000)
    parent = await runtime.authority.issue(
        "acme", "agent:support", ["orders.*"], timedelta(hours=1), constraints=["orders.refund: amount.amount_minor <= 5000"]
    )
    key = (await runtime.keys.published("acme"))[0]["public_key"]
    child = attenuate(parent.token, str(key), constraints=["orders.refund: amount.amount_minor <= 1000"], delegate_to="agent:sub")
    assert (await runtime.gateway.call(Call("orders.refund", refund(900), child, "test", idempotency_key=new_key()))).ok
    over = await runtime.gateway.call(Call("orders.refund", refund(2000), child, "test", idempotency_key=new_key()))
    assert isinstance(over.error, ConstraintViolated)
    looser = attenuate(child, str(key), constraints=["orders.refund: amount.amount_minor <= 100000"])
    out = await runtime.gateway.call(Call("orders.refund", refund(2000), looser, "test", idempotency_key=new_key()))
    assert isinstance(out.error, ConstraintViolated)
    assert len((await runtime.authority.verify(looser)).constraints) == 3
    # Out of scope stays permission-denied, not a constraint problem.
    out = await runtime.gateway.call(Call("customers.get", {"customer_id": "c_1"}, child, "test"))
    assert type(out.error) is PermissionDenied
