from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from chamberlain import Context, Money, Surface
from chamberlain.actions import mcp_hints
from chamberlain.content import Content, TextBlock


class Refund(BaseModel):
    id: str
    amount: Money


def make_surface() -> Surface:
    s = Surface("t")

    @s.action("orders.refund", risk="money", version=2)
    async def refund(order_id: str, amount: Money, reason: Annotated[str, Field(min_length=3)], ctx: Context) -> Refund:
        """Refund an order."""
        return Refund(id="r1", amount=amount)

    @s.action("math.add", risk="read")
    async def add(a: int, b: int = 1) -> int:
        return a + b

    @s.action("media.say", risk="read")
    async def say() -> Content:
        return Content(content=[TextBlock(text="hi")])

    return s


def test_input_schema_comes_from_type_hints_and_hides_context() -> None:
    action = make_surface().get("orders.refund")
    assert action is not None
    schema = action.contract.input_schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {"order_id", "amount", "reason"}
    assert set(schema["required"]) == {"order_id", "amount", "reason"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["reason"]["minLength"] == 3
    assert "Money" in schema["$defs"]
    assert action.contract.context_param == "ctx"
    assert action.version == 2 and action.description == "Refund an order."


def test_output_schema_objects_kept_and_scalars_wrapped() -> None:
    s = make_surface()
    refund = s.get("orders.refund")
    add = s.get("math.add")
    assert refund and add
    assert refund.contract.output_schema is not None
    assert set(refund.contract.output_schema["properties"]) == {"id", "amount"}
    assert add.contract.output_schema == {"type": "object", "properties": {"result": {"type": "integer"}}, "required": ["result"]}
    assert add.contract.dump_output(3) == {"result": 3}


def test_unknown_fields_and_wrong_types_are_refused() -> None:
    model = make_surface().get("math.add").contract.input_model  # type: ignore[union-attr]
    assert model.model_validate({"a": 1}).model_dump() == {"a": 1, "b": 1}
    with pytest.raises(ValidationError):
        model.model_validate({"a": 1, "c": 2})
    with pytest.raises(ValidationError):
        model.model_validate({"a": "not a number"})


def test_output_contract_is_enforced() -> None:
    refund = make_surface().get("orders.refund")
    with pytest.raises(ValidationError):
        refund.contract.dump_output({"id": 1})  # type: ignore[union-attr]


def test_content_results_are_marked() -> None:
    say = make_surface().get("media.say")
    assert say is not None and say.contract.is_content
    assert say.contract.dump_output(Content(content=[TextBlock(text="x")])) == {"content": [{"type": "text", "text": "x"}]}


@pytest.mark.parametrize(
    ("risk", "read_only", "destructive", "idempotent"),
    [
        ("read", True, False, True),
        ("data_export", True, False, True),
        ("write", False, False, False),
        ("money", False, True, False),
        ("account", False, True, False),
    ],
)
def test_mcp_hints_follow_risk(risk: str, read_only: bool, destructive: bool, idempotent: bool) -> None:
    hints = mcp_hints(risk)
    assert (hints["readOnlyHint"], hints["destructiveHint"], hints["idempotentHint"]) == (read_only, destructive, idempotent)
    assert mcp_hints("write", idempotent=True)["idempotentHint"] is True


def test_bad_declarations_are_refused() -> None:
    s = Surface("t")
    with pytest.raises(ValueError, match="dotted lower-case"):
        s.action("Orders.Refund", risk="read")
    with pytest.raises(ValueError, match="risk"):
        s.action("orders.refund", risk="dangerous")
    with pytest.raises(ValueError, match="version"):
        s.action("orders.refund", risk="read", version=0)
    with pytest.raises(ValueError, match="only read actions"):
        s.action("orders.refund", risk="write", resource="x://y")

    def sync(a: int) -> int:
        return a

    with pytest.raises(TypeError, match="async def"):
        s.action("a.sync", risk="read")(sync)

    async def untyped(a):  # type: ignore[no-untyped-def]
        return a

    with pytest.raises(TypeError, match="type hint"):
        s.action("a.untyped", risk="read")(untyped)

    async def ok(a: int) -> int:
        return a

    s.action("a.ok", risk="read")(ok)
    with pytest.raises(ValueError, match="twice"):
        s.action("a.ok", risk="read")(ok)


def test_resource_template_must_match_arguments() -> None:
    s = Surface("t")

    async def get(order_id: str) -> str:
        return order_id

    with pytest.raises(ValueError, match="requires"):
        s.action("orders.get", risk="read", resource="shop://orders/{id}")(get)
    s.action("orders.get", risk="read", resource="shop://orders/{order_id}")(get)
    assert s.get("orders.get").resource == "shop://orders/{order_id}"  # type: ignore[union-attr]


def test_money_formats_minor_units() -> None:
    assert str(Money(amount_minor=1250, currency="EUR")) == "12.50 EUR"
    assert str(Money(amount_minor=500, currency="JPY")) == "500 JPY"
    with pytest.raises(ValidationError):
        Money(amount_minor=-1, currency="EUR")
    with pytest.raises(ValidationError):
        Money(amount_minor=1, currency="euro")
