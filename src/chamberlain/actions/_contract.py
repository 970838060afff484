"""Input and output contracts built from a handler's type hints.

Contracts are pydantic v2 models so that validation, JSON Schema and the error
locations an agent sees all come from one definition. Unknown fields are refused
(``extra="forbid"``): a misspelt argument must not be silently dropped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, get_type_hints

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from ..content import Content
from ..context import Context

# pydantic v2 emits JSON Schema 2020-12, which OpenAPI 3.1 and MCP (SEP-1613) both speak.
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Contract:
    """What an action accepts and returns, with the schemas published to agents."""

    input_model: type[BaseModel]
    input_schema: dict[str, Any]
    output_adapter: TypeAdapter[Any] | None
    output_schema: dict[str, Any] | None
    wraps_output: bool
    context_param: str | None
    returns: Any = None
    """The declared return type: ``Content``, ``bytes`` and ``str`` render natively on MCP."""
    secret_inputs: frozenset[str] = frozenset()
    secret_outputs: frozenset[str] = frozenset()
    """Fields marked ``json_schema_extra=SECRET``: kept out of the audit log's payloads."""

    def audit_input(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the audit log may keep them (secrets replaced)."""
        return _redact(arguments, self.secret_inputs)

    def audit_output(self, result: Any) -> Any:
        return _redact(result, self.secret_outputs)

    @property
    def is_content(self) -> bool:
        return self.returns is Content

    def dump_output(self, value: Any) -> Any:
        """The JSON-ready result; non-object results are wrapped as ``{"result": ...}``."""
        if self.output_adapter is None:
            return None
        adapter = self.output_adapter
        data = adapter.dump_python(adapter.validate_python(value), mode="json")
        return {"result": data} if self.wraps_output else data


SECRET: dict[str, Any] = {"x-secret": True}
"""Mark a field as secret (``Field(json_schema_extra=SECRET)``): the agent gets it, the
audit log's payload store never does (a freshly issued grant's token, a one-time code)."""
_REDACTED = "[secret]"


def _secret_fields(schema: dict[str, Any] | None) -> frozenset[str]:
    properties = (schema or {}).get("properties", {})
    return frozenset(name for name, prop in properties.items() if isinstance(prop, dict) and prop.get("x-secret"))


def _redact(value: Any, secrets: frozenset[str]) -> Any:
    if not secrets or not isinstance(value, dict):
        return value
    return {k: _REDACTED if k in secrets else v for k, v in value.items()}


def build_contract(fn: Callable[..., Any], model_name: str) -> Contract:
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for name, param in inspect.signature(fn).parameters.items():
        annotation = hints.get(name, Any)
        if annotation is Context:
            context_param = name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{fn.__qualname__}: *args/**kwargs cannot form a contract")
        if name not in hints:
            raise TypeError(f"{fn.__qualname__}: parameter {name!r} needs a type hint")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (annotation, default)
    input_model = create_model(model_name, __base__=_Strict, **fields)
    input_schema = {"$schema": JSON_SCHEMA_DIALECT, **input_model.model_json_schema()}
    input_schema.pop("title", None)

    returns = hints.get("return", inspect.Signature.empty)
    if returns in (None, type(None), inspect.Signature.empty):
        return Contract(input_model, input_schema, None, None, False, context_param, secret_inputs=_secret_fields(input_schema))
    # Bytes travel base64-encoded in JSON, as MCP blobs do.
    config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64") if returns is bytes else None
    adapter: TypeAdapter[Any] = TypeAdapter(returns, config=config)
    schema = adapter.json_schema(mode="serialization")
    wraps = schema.get("type") != "object"
    if wraps:
        # MCP requires an object outputSchema; wrap scalars and lists the way FastMCP does.
        defs = schema.pop("$defs", None)
        schema = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
        if defs:
            schema["$defs"] = defs
    return Contract(
        input_model,
        input_schema,
        adapter,
        schema,
        wraps,
        context_param,
        returns,
        secret_inputs=_secret_fields(input_schema),
        secret_outputs=_secret_fields(schema),
    )


class _SchemaInput(BaseModel):
    """Arguments held to a JSON Schema rather than type hints (proxied actions): every
    argument is kept as given, once the schema accepts the whole object."""

    model_config = ConfigDict(extra="allow")
    _validator: ClassVar[Draft202012Validator]

    @model_validator(mode="before")
    @classmethod
    def _against_schema(cls, data: Any) -> Any:
        problems = sorted(cls._validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if problems:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    {
                        "type": PydanticCustomError("schema", "{message}", {"message": e.message[:300]}),
                        "loc": tuple(e.absolute_path),
                        "input": None,
                    }
                    for e in problems[:20]
                ],
            )
        return data


def schema_contract(input_schema: dict[str, Any], output_schema: dict[str, Any] | None, model_name: str) -> Contract:
    """A contract from JSON Schemas (an upstream's OpenAPI operation or MCP tool). The
    input must be an object; unless the schema says otherwise, unknown top-level fields
    are refused, as on native actions. The output is passed through (the upstream
    answers for it) and published with its schema."""
    schema = {k: v for k, v in input_schema.items() if k != "$schema"}
    if schema.get("type", "object") != "object":
        raise TypeError(f"{model_name}: an input schema must describe an object")
    schema = {"type": "object", **schema}
    schema.setdefault("properties", {})
    schema.setdefault("additionalProperties", False)
    Draft202012Validator.check_schema(schema)
    model = create_model(model_name, __base__=_SchemaInput)
    model._validator = Draft202012Validator(schema)
    published = {"$schema": JSON_SCHEMA_DIALECT, **schema}
    if output_schema is None:
        return Contract(model, published, TypeAdapter(Any), None, False, "ctx", secret_inputs=_secret_fields(schema))
    wraps = output_schema.get("type") != "object"
    out = {"type": "object", "properties": {"result": output_schema}, "required": ["result"]} if wraps else output_schema
    return Contract(model, published, TypeAdapter(Any), out, wraps, "ctx", secret_inputs=_secret_fields(schema))
