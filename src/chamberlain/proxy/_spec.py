"""Reading an OpenAPI document: JSON or YAML, 3.0 or 3.1, and its local ``$ref``s.

The document is the business's own description of an API it already runs, so it is
read strictly enough that a mistake stops the gateway at start (a Swagger 2.0 file,
a ``$ref`` to another file) rather than turning into actions that behave oddly.
YAML is read with only ``true``/``false`` as booleans and no timestamps: YAML 1.1's
``yes``/``no``/``on``/``off`` would turn an enum of country codes (``NO``) into
``False``, and dates in examples into objects no JSON Schema can hold.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import yaml

__all__ = ["OpenApiError", "load_spec", "resolve_ref"]

_VERSION = re.compile(r"^3\.(0|1)\.\d+")


class OpenApiError(ValueError):
    """The OpenAPI document, or what was asked of it, cannot be governed as it stands;
    the message names the operation or the ``$ref`` and what to change."""


class _SpecLoader(yaml.SafeLoader):
    """YAML 1.2-like scalars: ``true``/``false`` are the only booleans, dates stay strings."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_spec(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 or 3.1 document from a file path, its text (JSON or YAML) or an
    already parsed mapping (``app.openapi()``); always a fresh copy the caller may keep.

    A string without a line break that names an existing file is read as that file;
    any other string is the document's text."""
    if isinstance(source, Mapping):
        doc: Any = copy.deepcopy(dict(source))
    else:
        doc = _parse(_text_of(source))
    if not isinstance(doc, dict):
        if isinstance(source, str) and "\n" not in source:
            raise OpenApiError(f"{source[:200]!r} is neither a readable file nor an OpenAPI document")
        raise OpenApiError("an OpenAPI document is a JSON or YAML object")
    if "swagger" in doc:
        raise OpenApiError(f"Swagger {doc['swagger']} is not supported: convert it to OpenAPI 3 first")
    version = str(doc.get("openapi", ""))
    if not _VERSION.match(version):
        raise OpenApiError(f"openapi version {version or '(missing)'!r} is not supported: use OpenAPI 3.0 or 3.1")
    if not isinstance(doc.get("paths", {}), dict):
        raise OpenApiError("the document's paths must be an object")
    return doc


def is_openapi_30(doc: Mapping[str, Any]) -> bool:
    """3.0 schemas are a dialect of their own (``nullable``, boolean exclusive bounds)."""
    return str(doc.get("openapi", "")).startswith("3.0")


def _text_of(source: str | Path) -> str:
    if isinstance(source, Path):
        return _read(source)
    if "\n" not in source and not source.lstrip().startswith("{"):
        path = Path(source)
        if path.is_file():
            return _read(path)
    return source


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise OpenApiError(f"cannot read the OpenAPI document {path}: {err.strerror or err}") from err


def _parse(text: str) -> Any:
    try:
        if text.lstrip().startswith("{"):
            return orjson.loads(text)
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except (orjson.JSONDecodeError, yaml.YAMLError) as err:
        raise OpenApiError(f"not a JSON or YAML document (or no such file): {err}") from err


def resolve_ref(doc: Mapping[str, Any], ref: str) -> Any:
    """The node a local ``$ref`` (``#/components/schemas/Pet``) points at. References to
    other documents are refused: the gateway governs what it was given, and fetching
    more at start would make the actions depend on files or hosts nobody reviewed."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise OpenApiError(f"$ref {ref!r} points outside the document; external references are not supported (inline it)")
    node: Any = doc
    for raw in ref[1:].split("/")[1:] if ref != "#" else []:
        key = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise OpenApiError(f"$ref {ref!r} does not resolve in the document")
    return node


def deref(doc: Mapping[str, Any], node: Any, *, seen: frozenset[str] = frozenset()) -> Any:
    """``node`` with any chain of ``$ref`` followed (parameters, request bodies,
    responses, path items: objects that are not schemas)."""
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise OpenApiError(f"$ref {ref!r} refers to itself")
        seen = seen | {ref}
        node = resolve_ref(doc, ref)
    return node
