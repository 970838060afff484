"""The operations of an OpenAPI document, read as what an action needs: a name, one
input object, an output schema, and how each argument travels upstream.

The input is one object, because that is what an agent sends (an MCP tool's
arguments, a REST body). Path, query and header parameters become its properties by
name; a JSON request body that is an object is **flattened** into it when none of its
property names clash with a parameter (and, for an optional body, when it requires
nothing), else it travels whole as ``body``. Flattening is chosen because policies and
grant constraints judge top-level arguments: ``amount`` in a refund's body must be
``context.amount_minor`` to the default money policy and ``amount.amount_minor <= 5000``
to a grant, exactly as for a native ``orders.refund``.

Headers an agent must never set are not arguments: ``Authorization`` and the other
credential headers (the gateway sends its own), ``traceparent`` (the gateway sends the
call's), ``Idempotency-Key`` (the gateway derives one per call), ``Cookie``, ``Host``
and the other framing headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._payloads import RESERVED_ARGUMENTS, Body, claim, json_media_type, links_of, output_schema, request_body
from ._schemas import SchemaConverter
from ._spec import OpenApiError, deref

__all__ = ["Body", "OperationSpec", "Parameter", "read_operations", "snake_case"]

Location = Literal["path", "query", "header"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""RFC 9110 §9.2.2: repeating one of these has the effect of sending it once."""
IDEMPOTENCY_HEADER = "idempotency-key"
_GATEWAY_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "accept",
        "content-type",
        "content-length",
        "host",
        "traceparent",
        "tracestate",
        "baggage",
        "connection",
        "transfer-encoding",
        "te",
        "upgrade",
        "expect",
    }
)
_STYLES: dict[Location, frozenset[str]] = {
    "path": frozenset({"simple"}),
    "query": frozenset({"form", "spaceDelimited", "pipeDelimited", "deepObject"}),
    "header": frozenset({"simple"}),
}
_PATH_SEGMENT = {"minLength": 1, "not": {"enum": [".", ".."]}}
"""A path parameter fills one segment: never empty, never a dot segment that would walk the path."""
_HEADER_VALUE = {"pattern": "^[^\\r\\n\\x00]*$"}


@dataclass(frozen=True)
class Parameter:
    argument: str
    """Its name in the action's input (a header's is snake_case: ``X-Region`` → ``x_region``)."""
    name: str
    location: Location
    style: str
    explode: bool
    as_json: bool = False
    """Declared with ``content: application/json``: sent as JSON text."""


@dataclass(frozen=True)
class OperationSpec:
    """One operation, read for governing; ``unsupported`` says why it cannot be."""

    method: str
    path: str
    operation_id: str | None
    suffix: str
    """The action name's last part: the operationId in snake_case (``getPet`` → ``get_pet``)."""
    summary: str = ""
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    body: Body | None = None
    input_schema: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    idempotency_header: str | None = None
    """The wire name of its ``Idempotency-Key`` header parameter, if it declares one."""
    links: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Its 2xx responses' links, by target operationId (how a compensation finds its arguments)."""
    extensions: Mapping[str, Any] = field(default_factory=dict)
    """Its ``x-chamberlain-*`` fields."""
    unsupported: str | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def label(self) -> str:
        return self.operation_id or self.key

    @property
    def idempotent(self) -> bool:
        """Safe to send again: by its method, or because the upstream deduplicates it by key."""
        return self.method in IDEMPOTENT_METHODS or self.idempotency_header is not None

    @property
    def inferred_risk(self) -> str:
        """``read`` for safe methods, ``write`` for the rest: the method tells only whether
        something changes; what changes (money, accounts) is the business's to say."""
        return "read" if self.method in SAFE_METHODS else "write"

    def parameter(self, reference: str) -> Parameter | None:
        """A parameter by wire name, optionally qualified (``path.refund_id``), or by argument."""
        where, dot, name = reference.partition(".")
        if not dot or where not in _STYLES:
            where, name = "", reference
        for p in self.parameters:
            if (p.name == name or p.argument == name) and (not where or p.location == where):
                return p
        return None


def snake_case(text: str) -> str:
    """``getPetById`` → ``get_pet_by_id``; ``GET /pets/{petId}`` → ``get_pets_pet_id``."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    return s if s[:1].isalpha() else f"op_{s}".rstrip("_")


def read_operations(doc: Mapping[str, Any], *, reserved_headers: Iterable[str] = ()) -> list[OperationSpec]:
    """Every operation of ``doc``, in document order. ``reserved_headers`` are the
    headers the gateway sets itself for this upstream (its credentials): never arguments."""
    converter = SchemaConverter(doc)
    reserved = _GATEWAY_HEADERS | {h.lower() for h in reserved_headers} | _api_key_headers(doc)
    found = []
    for path, raw_item in doc.get("paths", {}).items():
        item = deref(doc, raw_item)
        if not isinstance(item, Mapping):
            raise OpenApiError(f"path {path!r} is not a Path Item object")
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, Mapping):
                continue
            operation_id = op.get("operationId") if isinstance(op.get("operationId"), str) else None
            suffix = snake_case(operation_id or f"{method} {path}")
            try:
                found.append(_read(doc, converter, reserved, path, method.upper(), op, item.get("parameters", [])))
            except OpenApiError as err:
                found.append(OperationSpec(method.upper(), path, operation_id, suffix, unsupported=str(err)))
    return found


def _api_key_headers(doc: Mapping[str, Any]) -> set[str]:
    schemes = doc.get("components", {}).get("securitySchemes", {})
    return {
        str(s.get("name", "")).lower()
        for s in (deref(doc, v) for v in schemes.values())
        if isinstance(s, Mapping) and s.get("type") == "apiKey" and s.get("in") == "header"
    }


def _read(
    doc: Mapping[str, Any],
    converter: SchemaConverter,
    reserved: frozenset[str],
    path: str,
    method: str,
    op: Mapping[str, Any],
    shared: list[Any],
) -> OperationSpec:
    properties: dict[str, Any] = {}
    required: list[str] = []
    parameters: list[Parameter] = []
    idempotency_header = None
    for raw in _merged_parameters(doc, shared, op.get("parameters", [])):
        name, where = str(raw.get("name", "")), raw.get("in")
        if where == "cookie":
            if raw.get("required"):
                raise OpenApiError(f"it requires the cookie {name!r}; cookie parameters are not supported")
            continue
        if where == "header" and name.lower() == IDEMPOTENCY_HEADER:
            idempotency_header = name
            continue
        if where == "header" and name.lower() in reserved:
            continue
        if where not in _STYLES:
            raise OpenApiError(f"parameter {name!r} is in {where!r}, not path, query, header or cookie")
        parameter = _parameter(raw, name, where)
        schema, as_json = _parameter_schema(converter, raw)
        if as_json:
            parameter = Parameter(parameter.argument, name, where, parameter.style, parameter.explode, as_json=True)
        if where == "path":
            schema = _constrained(schema, _PATH_SEGMENT)
        elif where == "header":
            schema = _constrained(schema, _HEADER_VALUE)
        claim(properties, parameter.argument, schema)
        parameters.append(parameter)
        if raw.get("required") or where == "path":
            required.append(parameter.argument)
    missing = set(re.findall(r"\{([^}]+)\}", path)) - {p.name for p in parameters if p.location == "path"}
    if missing:
        raise OpenApiError(f"its path names {sorted(missing)} but declares no such path parameters")
    additional: Any = False
    body = None
    if op.get("requestBody") is not None:
        body, additional = request_body(doc, converter, deref(doc, op["requestBody"]), properties, required)
    input_schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": additional}
    if required:
        input_schema["required"] = list(dict.fromkeys(required))
    responses = deref(doc, op.get("responses", {})) or {}
    return OperationSpec(
        method=method,
        path=path,
        operation_id=op.get("operationId") if isinstance(op.get("operationId"), str) else None,
        suffix=snake_case(op.get("operationId") or f"{method} {path}"),
        summary=str(op.get("summary") or "").strip(),
        description=str(op.get("description") or "").strip(),
        parameters=tuple(parameters),
        body=body,
        input_schema=input_schema,
        output_schema=output_schema(doc, converter, responses),
        idempotency_header=idempotency_header,
        links=links_of(doc, responses),
        extensions={k: v for k, v in op.items() if isinstance(k, str) and k.startswith("x-chamberlain-")},
    )


def _merged_parameters(doc: Mapping[str, Any], shared: list[Any], own: list[Any]) -> list[Mapping[str, Any]]:
    """Path-level parameters, overridden by the operation's own of the same name and place."""
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*shared, *own]:
        p = deref(doc, raw)
        if not isinstance(p, Mapping):
            raise OpenApiError("a parameter is not a Parameter object")
        merged[(str(p.get("name")), str(p.get("in")))] = p
    return list(merged.values())


def _parameter(raw: Mapping[str, Any], name: str, where: Location) -> Parameter:
    style = str(raw.get("style", "form" if where == "query" else "simple"))
    if style not in _STYLES[where]:
        raise OpenApiError(f"parameter {name!r} uses style {style!r}, not supported in {where}")
    explode = bool(raw.get("explode", style == "form"))
    argument = snake_case(name) if where == "header" else name
    if argument in RESERVED_ARGUMENTS:
        raise OpenApiError(f"parameter {name!r}: the argument name {argument!r} is reserved")
    return Parameter(argument, name, where, style, explode)


def _parameter_schema(converter: SchemaConverter, raw: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    if "content" in raw:
        media = json_media_type(raw["content"])
        if media is None:
            raise OpenApiError(f"parameter {raw.get('name')!r} is sent as {', '.join(raw['content'])}; only JSON is supported")
        schema, as_json = converter.convert(raw["content"][media].get("schema", {}), "request"), True
    else:
        schema, as_json = converter.convert(raw.get("schema", {}), "request"), False
    if raw.get("description") and "description" not in schema:
        schema["description"] = str(raw["description"])
    if raw.get("deprecated"):
        schema["deprecated"] = True
    return schema, as_json


def _constrained(schema: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that must also satisfy ``extra``; merged when no keyword clashes, so the
    argument keeps a plain ``type`` (what the policy compiler reads)."""
    return {**schema, **extra} if not set(schema) & set(extra) else {"allOf": [schema, extra]}
