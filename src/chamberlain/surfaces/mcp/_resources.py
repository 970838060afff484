"""Which read actions are MCP resources, and how a URI maps back to a call.

A read action declared with ``resource="shop://orders/{order_id}"`` is a resource
template; without parameters it is a plain resource. Read actions that take no
arguments are also listed at ``chamberlain://actions/<name>``. Reading a resource
is a call of its action, so it passes every stage of the pipeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import orjson

from ...actions import Action, Surface

ACTION_SCHEME = "chamberlain://actions/"
CALL_SCHEME = "chamberlain://calls/"
CALL_TEMPLATE = CALL_SCHEME + "{call_id}"
_PARAM = re.compile(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\}")


@dataclass(frozen=True)
class ResourceRoute:
    uri: str
    action: Action
    pattern: re.Pattern[str]

    @property
    def is_template(self) -> bool:
        return "{" in self.uri

    def match(self, uri: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(uri)
        return found.groupdict() if found else None


def _route(uri: str, action: Action) -> ResourceRoute:
    # Each {param} matches one path segment; the rest of the template is literal.
    regex = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(uri))
    return ResourceRoute(uri, action, re.compile(regex))


def resource_routes(surface: Surface) -> list[ResourceRoute]:
    routes = []
    for action in surface:
        if action.resource:
            routes.append(_route(action.resource, action))
        elif action.risk == "read" and not action.contract.input_schema.get("required"):
            routes.append(_route(ACTION_SCHEME + action.name, action))
    return routes


def describe(route: ResourceRoute) -> types.Resource | types.ResourceTemplate:
    action = route.action
    mime = action.mime_type or "application/json"
    if route.is_template:
        return types.ResourceTemplate(
            uri_template=route.uri, name=action.name, title=action.title, description=action.description, mime_type=mime
        )
    return types.Resource(uri=route.uri, name=action.name, title=action.title, description=action.description, mime_type=mime)


def render(uri: str, action: Action, result: Any) -> types.TextResourceContents | types.BlobResourceContents:
    """Text and bytes results are served as themselves; anything else as JSON."""
    returns = action.contract.returns
    value = result.get("result") if action.contract.wraps_output and isinstance(result, dict) else result
    if returns is bytes:
        return types.BlobResourceContents(uri=uri, mime_type=action.mime_type or "application/octet-stream", blob=str(value))
    if returns is str:
        return types.TextResourceContents(uri=uri, mime_type=action.mime_type or "text/plain", text=str(value))
    return types.TextResourceContents(
        uri=uri, mime_type=action.mime_type or "application/json", text=orjson.dumps(result).decode()
    )
