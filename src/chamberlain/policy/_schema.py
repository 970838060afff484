"""The Cedar schema a tenant's policies are validated against, generated from the actions.

Every declared action becomes a Cedar action whose context holds its arguments,
typed from the action's input contract, so a policy that names an unknown action,
argument or attribute is rejected when it is loaded rather than silently never
matching at run time. Each action is also a member of its risk-class group
(``Action::"risk:money"``), so policies can speak about risk classes.

Argument types map JSON Schema to Cedar: string→String, integer→Long,
boolean→Bool, array→Set, object→Record (closed). Arguments of types Cedar has no
value for (floats, mixed unions) are left out of the context, and so cannot be
named by a policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..actions import Action, Surface
from ..actions._risk import RISK_CLASSES
from ..money import Money

NAMESPACE = "Chamberlain"
PRINCIPAL = f"{NAMESPACE}::Principal"
TENANT = f"{NAMESPACE}::Tenant"
ACTION = f"{NAMESPACE}::Action"

Project = Callable[[Any], Any]
"""Turns a JSON value of an argument into its Cedar JSON value (or _OMIT)."""

_OMIT = object()


def risk_group(risk: str) -> str:
    return f"risk:{risk}"


@dataclass(frozen=True)
class _Field:
    cedar: dict[str, Any]
    project: Project


@dataclass(frozen=True)
class ActionShape:
    """What the context of one action looks like, and how to build it from arguments."""

    name: str
    risk: str
    arguments: dict[str, _Field]
    money_argument: str | None
    money_required: bool
    money_from_original: bool = False
    """A revert: ``money_argument`` names an argument of the call it reverts."""

    def project_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, f in self.arguments.items():
            value = arguments.get(name)
            if value is None:
                continue
            projected = f.project(value)
            if projected is not _OMIT:
                out[name] = projected
        return out

    def context_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "arguments": {
                "type": "Record",
                "attributes": {n: f.cedar for n, f in self.arguments.items()},
            },
            "risk": {"type": "String"},
            "surface": {"type": "String"},
            "now": {"type": "Long"},
            "hour": {"type": "Long"},
            "weekday": {"type": "Long"},
        }
        if self.money_argument is not None:
            attributes["amount_minor"] = {"type": "Long", "required": self.money_required}
            attributes["currency"] = {"type": "String", "required": self.money_required}
        return attributes


def _identity(value: Any) -> Any:
    return value


def _long(value: Any) -> Any:
    # Cedar's Long is a signed 64-bit integer; a larger value cannot be compared honestly.
    return value if isinstance(value, int) and -(2**63) <= value < 2**63 else _OMIT


def _field(schema: dict[str, Any], defs: dict[str, Any], required: bool) -> _Field | None:
    """Map one JSON Schema node to a Cedar type and a value projector (None: not mappable)."""
    if "$ref" in schema:
        return _field(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, required)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _field(options[0], defs, False) if len(options) == 1 else None
    kind = schema.get("type")
    optional = {} if required else {"required": False}
    if kind == "string":
        return _Field({"type": "String", **optional}, _identity)
    if kind == "boolean":
        return _Field({"type": "Boolean", **optional}, _identity)
    if kind == "integer":
        return _Field({"type": "Long", **optional}, _long)
    if kind == "array" and isinstance(schema.get("items"), dict):
        item = _field(schema["items"], defs, True)
        if item is None:
            return None
        project = item.project
        return _Field(
            {"type": "Set", "element": item.cedar, **optional},
            lambda values: [p for p in (project(v) for v in values) if p is not _OMIT],
        )
    if kind == "object" and "properties" in schema:
        fields = _record_fields(schema, defs)
        return _Field(
            {"type": "Record", "attributes": {n: f.cedar for n, f in fields.items()}, **optional},
            lambda value: _project_record(fields, value),
        )
    return None


def _record_fields(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, _Field]:
    required = set(schema.get("required", []))
    fields = {}
    for name, prop in schema.get("properties", {}).items():
        f = _field(prop, defs, name in required)
        if f is not None:
            fields[name] = f
    return fields


def _project_record(fields: dict[str, _Field], value: Any) -> Any:
    if not isinstance(value, dict):
        return _OMIT
    out = {}
    for name, f in fields.items():
        if value.get(name) is not None:
            projected = f.project(value[name])
            if projected is not _OMIT:
                out[name] = projected
    return out


def action_shape(action: Action, surface: Surface) -> ActionShape:
    """A revert's amount is the money its original moved (policies judge reverting a large
    refund as they judge the refund), present exactly when the original's must be."""
    schema = action.contract.input_schema
    fields = _record_fields(schema, schema.get("$defs", {}))
    original = surface.get(action.reverts) if action.reverts else None
    money_argument = _money_argument(original or action)
    source = (original or action).contract.input_schema
    required = money_argument in set(source.get("required", []))
    return ActionShape(action.name, action.risk, fields, money_argument, required, money_from_original=original is not None)


def _money_argument(action: Action) -> str | None:
    """The argument that carries the amount: a ``Money`` field on a declared action, or,
    on an action held to a JSON Schema (a proxied upstream), a property shaped like one
    (an object with an integer ``amount_minor`` and a string ``currency``, both required)."""
    money = [n for n, f in action.contract.input_model.model_fields.items() if _is_money(f.annotation)]
    if money:
        return money[0]
    properties = action.contract.input_schema.get("properties", {})
    shaped = [name for name, schema in properties.items() if _money_shaped(schema)]
    return shaped[0] if shaped else None


def _money_shaped(schema: Any) -> bool:
    if isinstance(schema, dict) and "anyOf" in schema:  # optional: [money, null]
        options = [s for s in schema["anyOf"] if not (isinstance(s, dict) and s.get("type") == "null")]
        return len(options) == 1 and _money_shaped(options[0])
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return False
    props, required = schema.get("properties", {}), set(schema.get("required", []))
    return (
        props.get("amount_minor", {}).get("type") == "integer"
        and props.get("currency", {}).get("type") == "string"
        and {"amount_minor", "currency"} <= required
    )


def _is_money(annotation: Any) -> bool:
    return annotation is Money or (Money in getattr(annotation, "__args__", ()) and type(None) in annotation.__args__)


_PRINCIPAL_SHAPE = {
    "type": "Record",
    "attributes": {
        "kind": {"type": "String"},
        "on_behalf_of": {"type": "String", "required": False},
        "chain": {"type": "Set", "element": {"type": "String"}},
        "delegated": {"type": "Boolean"},
        "grant": {"type": "String"},
        "tenant": {"type": "String"},
    },
}


def cedar_schema(surface: Surface) -> dict[str, Any]:
    """The Cedar JSON schema for ``surface``: one principal type, the tenant as resource."""
    actions: dict[str, Any] = {risk_group(r): {} for r in RISK_CLASSES}
    for action in surface:
        shape = action_shape(action, surface)
        actions[action.name] = {
            "memberOf": [{"id": risk_group(action.risk)}],
            "appliesTo": {
                "principalTypes": ["Principal"],
                "resourceTypes": ["Tenant"],
                "context": {"type": "Record", "attributes": shape.context_attributes()},
            },
        }
    return {
        NAMESPACE: {
            "entityTypes": {"Principal": {"shape": _PRINCIPAL_SHAPE}, "Tenant": {}},
            "actions": actions,
        }
    }


def action_entities(surface: Surface) -> list[dict[str, Any]]:
    """Actions and their risk groups as Cedar entities, so ``action in Action::"risk:money"`` works."""
    groups = [{"uid": {"type": ACTION, "id": risk_group(r)}, "attrs": {}, "parents": []} for r in RISK_CLASSES]
    return groups + [
        {
            "uid": {"type": ACTION, "id": a.name},
            "attrs": {},
            "parents": [{"type": ACTION, "id": risk_group(a.risk)}],
        }
        for a in surface
    ]
