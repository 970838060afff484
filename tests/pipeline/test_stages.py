"""Each stage alone: it either stops the call with a typed error or passes it on."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from chamberlain import Surface
from chamberlain.app import Runtime
from chamberlain.errors import GrantInvalid, GrantMissing, InvalidInput, MalformedJSON, PermissionDenied, UnknownAction
from chamberlain.pipeline import Authenticate, AuthorizeGrant, Call, Outcome, ResolveTenant, ValidateInput, chain
from tests.conftest import issue


class Recorder:
    """A `next` that notes it was reached."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def __call__(self, call: Call) -> Outcome:
        self.calls.append(call)
        return Outcome(call, result="passed")


def call(token: str | None = None, action: str = "orders.get", arguments: Any = None, **kw: Any) -> Call:
    return Call(action, {"order_id": "o_1"} if arguments is None else arguments, token, "test", **kw)


async def test_authenticate_requires_a_grant(runtime: Runtime) -> None:
    stage, nxt = Authenticate(runtime.authority), Recorder()
    out = await stage(call(None), nxt)
    assert isinstance(out.error, GrantMissing) and not nxt.calls
    out = await stage(call("garbage"), nxt)
    assert isinstance(out.error, GrantInvalid) and not nxt.calls
    c = call(await issue(runtime))
    out = await stage(c, nxt)
    assert out.result == "passed" and c.grant is not None and c.reasons[0]["stage"] == "authenticate"


async def test_resolve_tenant_refuses_a_mismatch_and_unknown_tenants(runtime: Runtime) -> None:
    grant = await runtime.authority.verify(await issue(runtime))
    nxt = Recorder()

    async def exists(tenant: str) -> bool:
        return tenant == "acme"

    c = call(requested_tenant="globex")
    c.grant = grant
    assert isinstance((await ResolveTenant(exists)(c, nxt)).error, GrantInvalid)

    async def gone(tenant: str) -> bool:
        return False

    c = call()
    c.grant = grant
    assert isinstance((await ResolveTenant(gone)(c, nxt)).error, GrantInvalid)
    c = call(requested_tenant="acme")
    c.grant = grant
    assert (await ResolveTenant(exists)(c, nxt)).ok and len(nxt.calls) == 1


async def test_validate_input(runtime: Runtime) -> None:
    stage, nxt = ValidateInput(runtime.surface), Recorder()
    assert isinstance((await stage(call(action="no.such"), nxt)).error, UnknownAction)
    assert isinstance((await stage(call(arguments=[1, 2]), nxt)).error, InvalidInput)
    body_error = MalformedJSON("bad")
    assert (await stage(call(transport_error=body_error), nxt)).error is body_error

    out = await stage(call(arguments={"order_id": 5, "secret": "hunter2"}), nxt)
    assert isinstance(out.error, InvalidInput)
    errors = out.error.extra["errors"]
    assert {tuple(e["loc"]) for e in errors} == {("order_id",), ("secret",)}
    assert "hunter2" not in repr(out.error.to_problem())
    assert not nxt.calls

    c = call()
    out = await stage(c, nxt)
    assert out.ok and c.input_hash and c.input_hash.startswith("sha256:")
    same = call()
    await stage(same, nxt)
    assert same.input_hash == c.input_hash


strict = Surface("strict")


@strict.action("things.set", risk="write")
async def set_thing(flag: bool, count: int, on: date, ratio: float = 1.0) -> dict[str, Any]:
    """Takes each JSON type the published schema names."""
    return {"flag": flag, "count": count, "on": on.isoformat(), "ratio": ratio}


@pytest.mark.parametrize(
    ("arguments", "wrong"),
    [
        ({"flag": 0, "count": 1, "on": "2026-11-29"}, "flag"),  # 0 is not false
        ({"flag": "true", "count": 1, "on": "2026-11-29"}, "flag"),
        ({"flag": True, "count": "1", "on": "2026-11-29"}, "count"),  # a numeral is not a number
        ({"flag": True, "count": 1.5, "on": "2026-11-29"}, "count"),
        ({"flag": True, "count": True, "on": "2026-11-29"}, "count"),
        ({"flag": True, "count": 1, "on": 1764374400}, "on"),  # a date is sent as ISO 8601 text
    ],
)
async def test_arguments_are_held_to_their_json_schema_without_coercion(arguments: dict[str, Any], wrong: str) -> None:
    out = await ValidateInput(strict)(call(action="things.set", arguments=arguments), Recorder())
    assert isinstance(out.error, InvalidInput), out
    assert [e["loc"] for e in out.error.extra["errors"]] == [[wrong]]


async def test_what_json_can_only_send_as_text_or_integers_is_taken() -> None:
    c = call(action="things.set", arguments={"flag": False, "count": 3, "on": "2026-11-29", "ratio": 2})
    assert (await ValidateInput(strict)(c, Recorder())).ok
    assert c.input == {"flag": False, "count": 3, "on": "2026-11-29", "ratio": 2.0}


async def test_arguments_json_cannot_hold_are_refused_not_crashed_on() -> None:
    out = await ValidateInput(strict)(call(action="things.set", arguments={"flag": object()}), Recorder())
    assert isinstance(out.error, InvalidInput) and "JSON" in out.error.detail


async def test_authorize_grant(runtime: Runtime) -> None:
    stage, nxt = AuthorizeGrant(runtime.authority), Recorder()
    c = call()
    c.grant = await runtime.authority.verify(await issue(runtime, actions=["customers.*"]))
    c.action = runtime.surface.get("orders.get")
    out = await stage(c, nxt)
    assert isinstance(out.error, PermissionDenied) and out.error.extra["allowed_actions"] == ["customers.*"]
    c.grant = await runtime.authority.verify(await issue(runtime, actions=["orders.get"]))
    assert (await stage(c, nxt)).ok and c.reasons[-1]["allowed_by"].startswith("grant:")


async def test_chain_runs_in_order_and_times_each_stage() -> None:
    order: list[str] = []

    class Named:
        def __init__(self, name: str, stop: bool = False) -> None:
            self.name, self.stop = name, stop

        async def __call__(self, c: Call, nxt: Any) -> Outcome:
            order.append(self.name)
            return Outcome(c, result=self.name) if self.stop else await nxt(c)

    run = chain([Named("a"), Named("b"), Named("c", stop=True), Named("never")])
    c = call()
    out = await run(c)
    assert out.result == "c" and order == ["a", "b", "c"]
    timings = c.timings()
    assert list(timings) == ["a", "b", "c"] and all(v >= 0 for v in timings.values())


def test_surface_is_iterable_and_sorted() -> None:
    s = Surface("x")

    async def f() -> None: ...

    s.action("b.two", risk="read")(f)
    s.action("a.one", risk="read")(f)
    assert [a.name for a in s] == ["a.one", "b.two"] and len(s) == 2 and "a.one" in s
    with pytest.raises(StopIteration):
        next(iter(Surface("empty")))
