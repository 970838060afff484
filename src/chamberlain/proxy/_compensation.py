"""Undo declared as another upstream operation: what the compensation is sent.

Reverting a proxied call calls the compensating operation (``createRefund`` is undone
by ``cancelRefund``) with arguments taken from the call being reverted. Each argument
of the compensation comes from the first of:

1. the mapping given with the undo (``UndoOperation(arguments={"refund_id": "$response.body#/id"})``);
2. a link that the original operation's 2xx response declares to the compensation's
   ``operationId`` (an OpenAPI Link Object: its ``parameters`` and ``requestBody``);
3. the same name at the top level of the original's answer, else of its arguments.

Values are OpenAPI runtime expressions, the language links already use:
``$response.body``, ``$response.body#/json/pointer``, ``$request.path.NAME``,
``$request.query.NAME``, ``$request.header.NAME``, ``$request.body``,
``$request.body#/pointer``, plus ``$revert.reason`` (why the revert was asked for);
anything that is not an expression is a constant. A
required argument that nothing could give is refused when the actions are built, not
when someone first tries to revert a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from ._operations import OperationSpec
from ._spec import OpenApiError

__all__ = ["ArgumentPlan", "CompensationError", "UndoOperation"]

_MISSING = object()


@dataclass(frozen=True)
class UndoOperation:
    """How a proxied operation's calls are reverted: by calling ``operation``
    (an operationId or ``"METHOD /path"``) of the same upstream."""

    operation: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """Compensation argument (or ``path.name``) → runtime expression or constant."""
    window: str | None = None
    """How long after a call ran it can be reverted (``30d``); None: as long as its data is kept."""
    risk: str | None = None
    """The revert's risk class; the original's by default (reverting a refund moves money)."""


class CompensationError(Exception):
    """A revert could not be given its compensation's arguments (the upstream answered
    without the field the undo was mapped to): a configuration fault, logged for the
    operator; the agent sees an internal error and nothing is sent upstream."""


class ArgumentPlan:
    """Where each argument of a compensation comes from; applied to each reverted call."""

    def __init__(self, original: OperationSpec, compensation: OperationSpec, explicit: Mapping[str, Any], wraps: bool) -> None:
        self._original = original
        self._compensation = compensation
        self._wraps = wraps
        self._validator = Draft202012Validator(compensation.input_schema)
        self._sources: dict[str, Any] = {}
        self._merged_body: Any = _MISSING
        link = original.links.get(compensation.operation_id or "", {})
        for key, value in {**dict(link.get("parameters") or {}), **dict(explicit)}.items():
            self._sources[self._argument(str(key))] = _checked(value, original)
        if "requestBody" in link and "body" not in explicit:
            self._place_body(_checked(link["requestBody"], original))
        properties = compensation.input_schema.get("properties", {})
        for name in compensation.input_schema.get("required", []):
            if name not in self._sources and self._merged_body is _MISSING and not self._may_give(name):
                raise OpenApiError(
                    f"undo of {original.label} by {compensation.label}: nothing gives its required argument {name!r}; "
                    "map it (UndoOperation(arguments=...)) or declare a link"
                )
        self._by_name = [n for n in properties if n not in self._sources]

    def arguments(self, arguments: Mapping[str, Any], result: Any, reason: str | None = None) -> dict[str, Any]:
        """The compensation's arguments for a call that was asked ``arguments`` and answered
        ``result``, reverted for ``reason``."""
        body = result.get("result") if self._wraps and isinstance(result, dict) else result
        out: dict[str, Any] = {}
        if self._merged_body is not _MISSING:
            merged = _evaluate(self._merged_body, self._original, arguments, body, reason)
            if isinstance(merged, dict):
                out.update(merged)
        for name, source in self._sources.items():
            value = _evaluate(source, self._original, arguments, body, reason)
            if value is not _MISSING:
                out[name] = value
        for name in self._by_name:
            if name in out:
                continue
            if isinstance(body, dict) and name in body:
                out[name] = body[name]
            elif name in arguments:
                out[name] = arguments[name]
        problems = [e.message for e in self._validator.iter_errors(out)]
        if problems:
            refused = "; ".join(problems[:3])
            raise CompensationError(f"cannot revert through {self._compensation.label}: arguments {sorted(out)}: {refused}")
        return out

    def _argument(self, key: str) -> str:
        p = self._compensation.parameter(key)
        if p is not None:
            return p.argument
        if key in self._compensation.input_schema.get("properties", {}):
            return key
        raise OpenApiError(f"undo by {self._compensation.label}: it has no argument {key!r}")

    def _place_body(self, source: Any) -> None:
        body = self._compensation.body
        if body is None:
            raise OpenApiError(f"undo by {self._compensation.label}: the link gives a request body, but it takes none")
        if body.argument is not None:
            self._sources[body.argument] = source
        else:
            self._merged_body = source

    def _may_give(self, name: str) -> bool:
        """Whether the original's answer or arguments can hold ``name`` (an answer of
        unknown shape might)."""
        if name in self._original.input_schema.get("properties", {}):
            return True
        output = self._original.output_schema
        return output is None or name in _top_properties(output)


def _top_properties(schema: Mapping[str, Any]) -> set[str]:
    names = set(schema.get("properties", {}))
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        if isinstance(branch, Mapping):
            names |= _top_properties(branch)
    return names


def _checked(value: Any, original: OperationSpec) -> Any:
    """``value``, once it is known to be a constant or an expression this module evaluates."""
    expression = _expression(value)
    if expression is None:
        return value
    source, _, rest = expression.partition("#")
    if expression == "$revert.reason":
        return value
    if source in ("$response.body", "$request.body"):
        if source == "$request.body" and original.body is None:
            raise OpenApiError(f"{value!r}: {original.label} sends no request body")
        return value
    where, _, name = source.removeprefix("$request.").partition(".")
    if source.startswith("$request.") and where in ("path", "query", "header") and not rest:
        if original.parameter(f"{where}.{name}") is None:
            raise OpenApiError(f"{value!r}: {original.label} has no {where} parameter {name!r}")
        return value
    raise OpenApiError(f"runtime expression {value!r} is not supported (use $response.body#/..., $request.path.NAME, ...)")


def _expression(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value[1:-1] if value.startswith("{$") and value.endswith("}") else value
    return text if text.startswith("$") else None


def _evaluate(source: Any, original: OperationSpec, arguments: Mapping[str, Any], body: Any, reason: str | None) -> Any:
    expression = _expression(source)
    if expression is None:
        return source
    if expression == "$revert.reason":
        return reason if reason is not None else _MISSING
    head, _, pointer = expression.partition("#")
    if head == "$response.body":
        return _pointer(body, pointer)
    if head == "$request.body":
        sent = original.body
        assert sent is not None
        params = {p.argument for p in original.parameters}
        whole = arguments.get(sent.argument) if sent.argument else {k: v for k, v in arguments.items() if k not in params}
        return _pointer(whole, pointer)
    where, _, name = head.removeprefix("$request.").partition(".")
    p = original.parameter(f"{where}.{name}")
    assert p is not None
    return arguments.get(p.argument, _MISSING)


def _pointer(document: Any, pointer: str) -> Any:
    """RFC 6901: ``/a/0/b`` into ``document``; missing parts give ``_MISSING``."""
    node = document
    for raw in pointer.split("/")[1:] if pointer else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node
