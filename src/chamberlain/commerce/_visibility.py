"""Who sees which fields of the catalog.

The rule is written once, here, and every output (feeds, JSON-LD, search, quotes,
claims, MCP resources) is rendered from ``view(...)``, never from the stored model:
an output that does not exist yet cannot leak a field by forgetting to drop it.

The audience is a property of the caller's grant:
- ``visibility.internal`` in scope: ``internal`` (the business's own people);
- ``visibility.partner`` in scope: ``partner``;
- anything else, or no grant at all: ``public``.

Publications meant for anyone (feeds, JSON-LD, discovery documents, quotes, claims)
are rendered for at most ``partner`` whoever asks, so cost, supplier and exact stock
only ever leave through ``catalog.products.get`` to a grant that holds the internal right.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from pydantic import BaseModel

from ..grants import Grant
from ._model import Visibility

__all__ = ["RANK", "audience_of", "field_classes", "view"]

RANK: dict[Visibility, int] = {"public": 0, "partner": 1, "internal": 2}
INTERNAL_RIGHT = "visibility.internal"
PARTNER_RIGHT = "visibility.partner"


def audience_of(grant: Grant | None, audience: str, now: datetime) -> Visibility:
    if grant is None:
        return "public"
    if grant.in_scope(INTERNAL_RIGHT, audience, now):
        return "internal"
    if grant.in_scope(PARTNER_RIGHT, audience, now):
        return "partner"
    return "public"


def _class_of(model: type[BaseModel], name: str) -> Visibility:
    extra = model.model_fields[name].json_schema_extra
    level = extra.get("x-visibility") if isinstance(extra, dict) else None
    return level if level in RANK else "public"


def field_classes(model: type[BaseModel], prefix: str = "", floor: Visibility = "public") -> dict[str, Visibility]:
    """Every field's class, by dotted path (``variants.cost``): the published table. A
    field inside a partner or internal one is of that class too."""
    out: dict[str, Visibility] = {}
    for name, info in model.model_fields.items():
        level = max(_class_of(model, name), floor, key=RANK.__getitem__)
        out[prefix + name] = level
        for inner in _models_in(info.annotation):
            out.update(field_classes(inner, f"{prefix}{name}.", level))
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def view(model: BaseModel, audience: Visibility) -> dict[str, Any]:
    """``model`` as JSON, without the fields above ``audience`` (at any depth) and without
    fields that are unset (None), so an absent field and a hidden one look the same."""
    limit = RANK[audience]
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        if RANK[_class_of(type(model), name)] > limit:
            continue
        value = _render(getattr(model, name), audience)
        if value is not None:
            out[name] = value
    return out


def _render(value: Any, audience: Visibility) -> Any:
    if isinstance(value, BaseModel):
        return view(value, audience)
    if isinstance(value, list):
        return [_render(v, audience) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, audience) for k, v in value.items()}
    return value
