"""OpenAPI schemas as self-contained JSON Schema 2020-12, the dialect contracts speak.

An action's published schema must stand alone (agents, MCP clients and the policy
compiler read it without the document it came from), so local ``$ref``s are inlined.
A schema that refers to itself is checked down to where it repeats, and left open
below that: the upstream still validates the rest, and a finite schema is what MCP
clients and the Cedar schema generator can walk.

OpenAPI 3.0's dialect is translated: ``nullable: true`` becomes a union with
``null``, boolean ``exclusiveMinimum``/``exclusiveMaximum`` become the numeric
bounds, ``example`` becomes ``examples``. Optional values (3.0 ``nullable``, 3.1
``type: [T, "null"]``) are written as ``anyOf: [T, null]``, the form pydantic emits,
so policies can name such arguments like those of native actions. OpenAPI-only
keywords (``discriminator``, ``xml``, ``externalDocs``) and ``x-`` extensions are
dropped: they describe documentation, not what a value may be.

``readOnly`` properties are left out of request schemas and ``writeOnly`` ones out of
response schemas, as OpenAPI specifies: an agent is never asked to send the ``id``
the server assigns.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

from ._spec import OpenApiError, is_openapi_30, resolve_ref

__all__ = ["Direction", "SchemaConverter"]

Direction = Literal["request", "response"]

_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "additionalProperties",
    "items",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_DROPPED = frozenset({"discriminator", "xml", "externalDocs", "nullable", "example"})
_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment"})
_HIDDEN: dict[Direction, str] = {"request": "readOnly", "response": "writeOnly"}


class SchemaConverter:
    """Converts the schemas of one OpenAPI document; inlined references are converted once."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self._doc = doc
        self._v30 = is_openapi_30(doc)
        self._done: dict[tuple[str, Direction], Any] = {}

    def convert(self, schema: Any, direction: Direction) -> dict[str, Any]:
        """``schema`` (an OpenAPI Schema Object) as a standalone JSON Schema 2020-12 object."""
        out, _ = self._convert(schema, direction, ())
        return _as_object(out)

    def _convert(self, node: Any, direction: Direction, stack: tuple[str, ...]) -> tuple[Any, bool]:
        """The converted node, and whether a recursive reference was cut below it (then
        the result depends on where it was reached from, and is not reused)."""
        if isinstance(node, bool):
            return node, False
        if not isinstance(node, Mapping):
            raise OpenApiError(f"a schema must be an object, not {type(node).__name__}")
        if "$ref" in node:
            return self._reference(node, direction, stack)
        out: dict[str, Any] = {}
        cut = False
        for key, value in node.items():
            if key.startswith("x-") or key in _DROPPED:
                continue
            if key in _SCHEMA_MAPS and isinstance(value, Mapping):
                converted = {}
                for name, sub in value.items():
                    converted[name], below = self._convert(sub, direction, stack)
                    cut |= below
                out[key] = converted
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                items = []
                for sub in value:
                    item, below = self._convert(sub, direction, stack)
                    items.append(item)
                    cut |= below
                out[key] = items
            elif key in _SCHEMA_ONE and isinstance(value, Mapping | bool):
                out[key], below = self._convert(value, direction, stack)
                cut |= below
            else:
                out[key] = copy.deepcopy(value)
        if isinstance(out.get("properties"), dict):
            out = _without_hidden(out, _HIDDEN[direction])
        if self._v30:
            out = _from_30(node, out)
        return _optional_as_union(out), cut

    def _reference(self, node: Mapping[str, Any], direction: Direction, stack: tuple[str, ...]) -> tuple[Any, bool]:
        ref = node["$ref"]
        if ref in stack:
            return {"$comment": f"{ref} again: recursive, not checked below this depth"}, True
        if (ref, direction) in self._done:
            target, cut = copy.deepcopy(self._done[(ref, direction)]), False
        else:
            target, cut = self._convert(resolve_ref(self._doc, ref), direction, (*stack, ref))
            if not cut:
                self._done[(ref, direction)] = copy.deepcopy(target)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if self._v30:
            # 3.0 ignores a reference's siblings; ``nullable`` beside one is honoured because
            # that is what its writers always mean.
            return (_nullable(_as_object(target)) if siblings.get("nullable") is True else target), cut
        if not siblings:
            return target, cut
        extra, below = self._convert(siblings, direction, stack)
        merged = {**_as_object(target), **extra} if set(siblings) <= _ANNOTATIONS else {"allOf": [target], **extra}
        return merged, cut or below


def _as_object(schema: Any) -> dict[str, Any]:
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    return dict(schema)


def _from_30(source: Mapping[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    if "example" in source and "examples" not in out:
        out["examples"] = [copy.deepcopy(source["example"])]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(exclusive), bool):
            if out.pop(exclusive) and bound in out:
                out[exclusive] = out.pop(bound)
    return _nullable(out) if source.get("nullable") is True else out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return _optional_as_union({**schema, "type": [kind, "null"]})
    if isinstance(kind, list):
        return _optional_as_union({**schema, "type": [*kind, "null"] if "null" not in kind else kind})
    annotations = {k: v for k, v in schema.items() if k in _ANNOTATIONS}
    rest = {k: v for k, v in schema.items() if k not in _ANNOTATIONS}
    if "enum" in rest and None not in rest["enum"]:
        rest["enum"] = [*rest["enum"], None]
        return {**rest, **annotations}
    return {"anyOf": [rest, {"type": "null"}], **annotations}


def _optional_as_union(schema: dict[str, Any]) -> dict[str, Any]:
    """``type: [T, "null"]`` as ``anyOf: [{type: T, ...}, {type: null}]``."""
    kind = schema.get("type")
    if not (isinstance(kind, list) and len(kind) == 2 and "null" in kind):
        return schema
    (other,) = [k for k in kind if k != "null"]
    annotations = {k: v for k, v in schema.items() if k in _ANNOTATIONS}
    rest = {k: v for k, v in schema.items() if k not in _ANNOTATIONS and k != "type"}
    if "enum" in rest:
        rest["enum"] = [v for v in rest["enum"] if v is not None]
    return {"anyOf": [{"type": other, **rest}, {"type": "null"}], **annotations}


def _without_hidden(schema: dict[str, Any], flag: str) -> dict[str, Any]:
    hidden = {name for name, prop in schema["properties"].items() if isinstance(prop, dict) and prop.get(flag) is True}
    if not hidden:
        return schema
    out = {**schema, "properties": {n: p for n, p in schema["properties"].items() if n not in hidden}}
    if isinstance(schema.get("required"), list):
        out["required"] = [n for n in schema["required"] if n not in hidden]
    return out
