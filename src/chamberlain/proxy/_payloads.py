"""What an operation's request body and 2xx answers become: part of the action's
input (flattened, or whole as ``body``), its output schema, and the links its answers
declare. See ``_operations`` for why a body is flattened."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._schemas import SchemaConverter
from ._spec import OpenApiError, deref

__all__ = ["RESERVED_ARGUMENTS", "Body", "claim", "json_media_type", "links_of", "output_schema", "request_body"]

_FLAT_KEYS = frozenset({"type", "properties", "required", "additionalProperties", "title", "description", "examples", "$comment"})
_ANNOTATIONS = frozenset({"title", "description", "examples", "default", "deprecated", "$comment"})
_STATUS_ONLY = {"type": "object", "properties": {"status": {"type": "integer"}}, "required": ["status"]}
RESERVED_ARGUMENTS = frozenset({"ctx"})
"""The handler's own keyword (its ``Context``): no argument may take it."""


@dataclass(frozen=True)
class Body:
    media_type: str
    required: bool
    argument: str | None
    """The argument holding the whole body, or None when it is flattened into the input."""


def claim(properties: dict[str, Any], name: str, schema: Any) -> None:
    """Add argument ``name``; two inputs of one operation never share an argument."""
    if name in properties:
        raise OpenApiError(f"two of its inputs would both be the argument {name!r}")
    properties[name] = schema


def request_body(
    doc: Mapping[str, Any],
    converter: SchemaConverter,
    raw: Mapping[str, Any],
    properties: dict[str, Any],
    required: list[str],
) -> tuple[Body | None, Any]:
    """Add the body to the input's ``properties`` and ``required``; with how it travels,
    returns the input's ``additionalProperties`` (what the body allows beyond its fields)."""
    content = raw.get("content") or {}
    media = json_media_type(content)
    is_required = bool(raw.get("required"))
    if media is None:
        if is_required:
            raise OpenApiError(f"its request body is {', '.join(content) or 'undescribed'}; only JSON bodies are supported")
        return None, False
    schema = converter.convert(content[media].get("schema", {}), "request")
    if _flattenable(schema, properties, is_required):
        for name, prop in schema.get("properties", {}).items():
            claim(properties, name, prop)
        required.extend(schema.get("required", []) if is_required else [])
        extra = schema.get("additionalProperties", False)
        return Body(media, is_required, None), extra if extra is not True else {}
    argument = next(n for n in ("body", "request_body", "request_body_") if n not in properties)
    claim(properties, argument, schema)
    if is_required:
        required.append(argument)
    return Body(media, is_required, argument), False


def _flattenable(schema: dict[str, Any], taken: Mapping[str, Any], required: bool) -> bool:
    if schema.get("type", "object" if "properties" in schema else None) != "object" or not set(schema) <= _FLAT_KEYS:
        return False
    names = set(schema.get("properties", {}))
    if names & (set(taken) | RESERVED_ARGUMENTS):
        return False
    return required or not schema.get("required")


def json_media_type(content: Mapping[str, Any]) -> str | None:
    """The JSON media type among ``content``'s keys: ``application/json`` first, then any
    ``+json`` (``application/merge-patch+json``)."""
    kinds = {str(k).split(";")[0].strip().lower(): k for k in content}
    if "application/json" in kinds:
        return str(kinds["application/json"])
    return next((str(k) for low, k in kinds.items() if low.endswith("+json")), None)


def output_schema(doc: Mapping[str, Any], converter: SchemaConverter, responses: Mapping[Any, Any]) -> dict[str, Any] | None:
    """The 2xx answers' JSON schema when they agree: ``{"status"}`` if none has a body;
    None (no promise) when some answers differ in kind."""
    schemas: list[dict[str, Any]] = []
    empty = False
    for code in sorted((c for c in responses if str(c).startswith("2")), key=str):
        response = deref(doc, responses[code])
        content = (response.get("content") or {}) if isinstance(response, Mapping) else {}
        media = json_media_type(content)
        if not content:
            empty = True
        elif media is not None and "schema" in content[media]:
            converted = converter.convert(content[media]["schema"], "response")
            if set(converted) <= _ANNOTATIONS:  # ``{}``: any JSON at all, which promises nothing
                return None
            if converted not in schemas:
                schemas.append(converted)
        else:
            return None
    if schemas and empty:
        return None
    if not schemas:
        return dict(_STATUS_ONLY) if empty else None
    return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}


def links_of(doc: Mapping[str, Any], responses: Mapping[Any, Any]) -> dict[str, Mapping[str, Any]]:
    links: dict[str, Mapping[str, Any]] = {}
    for code in sorted((c for c in responses if str(c).startswith("2")), key=str):
        response = deref(doc, responses[code])
        for raw in (response.get("links") or {}).values() if isinstance(response, Mapping) else ():
            link = deref(doc, raw)
            if isinstance(link, Mapping) and isinstance(link.get("operationId"), str):
                links.setdefault(link["operationId"], link)
    return links
