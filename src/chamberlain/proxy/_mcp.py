"""An upstream MCP server's tools as governed actions.

Each approved tool becomes an ``Action`` under the upstream's namespace: the same
pipeline as a native action (grant, tenant, rate limit, validation against the tool's
own input schema, policy, approval, idempotency, execution, audit, events, tracing)
runs before the gateway sends the call upstream, and the MCP surface lists it to a
caller only if the caller's grant covers it. The upstream sees the gateway, never the
agent: its own credentials and the call's ``traceparent``, nothing of the grant.

- **Names.** Upstream tool names (``get-weather``, ``getWeather``, ``get.weather``) are
  mapped to action names (``weather.get_weather``) by ``action_name``; the action keeps
  the upstream's own name to call it, so the mapping need not be reversible as text.
- **Risk.** ``readOnlyHint`` gives ``read``, anything else ``write``; the upstream's
  ``risk`` map overrides per tool (``{"transfer": "money"}``), which is how a money
  movement gets the approval and idempotency-key rules of ``money``. Idempotent (and so
  retried on failures) only if ``readOnlyHint`` or ``idempotentHint``.
- **Pins.** What is published is the *approved* definition; on each call the upstream's
  current definition (its last ``tools/list``, listed again on
  ``notifications/tools/list_changed`` or once older than ``rediscover_s``) must still
  have the approved hash, else ``tool-definition-changed`` until an operator approves.
  A tool that appears later is pending and is not an action; once approved, it is
  served from the next start (a gateway's actions are fixed while it serves, as its
  policies are compiled against them).
- **Results.** A tool with an ``outputSchema`` answers its ``structuredContent``, held to
  that schema. One without answers its content blocks as ``Content`` (text, images,
  audio, embedded resources pass as they are; resource links become text), which MCP
  clients receive natively and REST clients as JSON. ``isError: true`` is
  ``upstream-rejected`` with the upstream's text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any

import mcp_types as types
from pydantic import TypeAdapter

from ..actions import ACTION_NAME, RISK_CLASSES, Action, Contract, Surface, schema_contract
from ..content import Content
from ..context import Context
from ..errors import ToolDefinitionChanged, UpstreamError, UpstreamNotFound
from ._mcp_client import McpUpstream, ToolDefinition
from ._pins import ToolPins

__all__ = ["action_name", "mcp_actions", "mcp_surface", "risk_of"]

log = logging.getLogger("chamberlain.proxy.mcp")

MAX_ACTION_NAME = 128
CONTEXT_PARAM = "__chamberlain_context__"
"""Where the handler is given the call's ``Context``: a name no tool argument takes (a
tool argument named ``ctx`` must reach the upstream, not be replaced by the context)."""
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_NAME = re.compile(r"[^a-z0-9_]+")
_CONTENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Content)
_CONTENT_SCHEMA = _CONTENT_ADAPTER.json_schema(mode="serialization")


def action_name(namespace: str, tool: str) -> str:
    """The action name of upstream tool ``tool``: lower-case, ``snake_case`` for camelCase
    and for ``-`` or other characters, dots kept as the separators they are, a segment
    that would start with a digit prefixed with ``t``, under ``namespace`` (if any)."""
    segments = []
    for part in tool.split("."):
        snake = _NOT_NAME.sub("_", _CAMEL.sub("_", part).lower()).strip("_")
        snake = re.sub(r"_+", "_", snake)
        if not snake:
            continue
        segments.append(f"t{snake}" if snake[0].isdigit() else snake)
    if not segments:
        segments = ["tool_" + hashlib.sha256(tool.encode()).hexdigest()[:8]]
    name = ".".join([namespace, *segments] if namespace else segments)
    if len(name) > MAX_ACTION_NAME:
        name = name[: MAX_ACTION_NAME - 9].rstrip("._") + "_" + hashlib.sha256(tool.encode()).hexdigest()[:8]
    if not ACTION_NAME.match(name):
        raise ValueError(f"tool {tool!r} gives no valid action name under {namespace!r}")
    return name


def risk_of(upstream: McpUpstream, definition: ToolDefinition) -> str:
    """The tool's risk class: the operator's override, else from its (pinned) annotations."""
    override = upstream.risk.get(definition.name)
    if override is not None:
        return override
    return "read" if definition.read_only else "write"


async def mcp_actions(upstream: McpUpstream, pins: ToolPins, *, register: bool | None = None) -> list[Action]:
    """The actions of ``upstream``'s approved tools.

    Lists its tools and records them with ``pins``: with ``register`` (by default, when
    the upstream was never seen: its first configuration is the operator's act) tools
    seen for the first time are approved; otherwise they wait for an operator. If the
    upstream cannot be reached but was registered before, its approved definitions are
    served (calls then fail until it answers, and list its tools again first).
    """
    for tool, risk in upstream.risk.items():
        if risk not in RISK_CLASSES:
            raise ValueError(f"upstream {upstream.name}: risk {risk!r} of {tool} is not one of {', '.join(RISK_CLASSES)}")
    known = await pins.known(upstream.name)
    approve_new = (not known) if register is None else register
    try:
        listed = await upstream.discover()
    except UpstreamError as err:
        if not known:
            raise
        log.warning("upstream %s: not reachable (%s); serving its approved tools", upstream.name, err.detail)
    else:
        statuses = await pins.pin_or_check(upstream.name, listed, approve_new=approve_new, by="operator:registration")
        for tool, status in sorted(statuses.items()):
            if status != "approved":
                log.warning(
                    "upstream %s: tool %s is %s and not served until approved (chamberlain proxy pending %s)",
                    upstream.name,
                    tool,
                    status,
                    upstream.name,
                )
    approved = await pins.approved(upstream.name)
    for tool in sorted(set(upstream.risk) - set(approved)):
        log.warning("upstream %s: the risk override names %s, which has no approved tool", upstream.name, tool)
    actions: list[Action] = []
    taken: dict[str, str] = {}
    for tool, definition in sorted(approved.items()):
        name = action_name(upstream.namespace, tool)
        if name in taken:
            raise ValueError(f"upstream {upstream.name}: tools {taken[name]!r} and {tool!r} both become action {name!r}")
        taken[name] = tool
        try:
            actions.append(_action(upstream, pins, name, definition))
        except Exception as err:  # a schema the gateway cannot hold arguments to: not served
            log.error("upstream %s: tool %s is not served: %s", upstream.name, tool, err)
    return actions


async def mcp_surface(upstreams: Sequence[McpUpstream], pins: ToolPins, *, name: str = "mcp-upstreams") -> Surface:
    """One surface with the actions of every upstream, to include in the served one."""
    surface = Surface(name, description="Tools of upstream MCP servers, governed by the gateway.")
    names = [u.name for u in upstreams]
    if len(set(names)) != len(names):
        raise ValueError(f"upstream names must be unique (their pins are kept by name): {sorted(names)}")
    for upstream in upstreams:
        for action in await mcp_actions(upstream, pins):
            surface.add(action)
    return surface


def _action(upstream: McpUpstream, pins: ToolPins, name: str, definition: ToolDefinition) -> Action:
    risk = risk_of(upstream, definition)
    if risk not in RISK_CLASSES:
        raise ValueError(f"risk {risk!r} is not one of {', '.join(RISK_CLASSES)}")
    model = "".join(part.title() for part in re.split(r"[._]", name)) + "Input"
    if CONTEXT_PARAM in definition.input_schema.get("properties", {}):
        raise ValueError(f"an argument is named {CONTEXT_PARAM!r}")
    contract = dataclasses.replace(
        schema_contract(definition.input_schema, definition.output_schema, model), context_param=CONTEXT_PARAM
    )
    if definition.output_schema is None:
        contract = _content_contract(contract)
    tool = definition.name
    idempotent = definition.idempotent
    structured = definition.output_schema is not None

    async def handler(**arguments: Any) -> Any:
        ctx: Context = arguments.pop(CONTEXT_PARAM)
        current = (await upstream.fresh(lambda listed: pins.pin_or_check(upstream.name, listed))).get(tool)
        if current is None:
            raise UpstreamNotFound(f"{upstream.name} no longer offers {tool}", upstream=upstream.name, tool=tool)
        if not await pins.is_approved(upstream.name, tool, current.digest):
            raise ToolDefinitionChanged(
                f"{upstream.name} changed {tool} since it was approved; not served until an operator approves the change",
                upstream=upstream.name,
                tool=tool,
                pending_hash=current.digest,
            )
        result = await upstream.call(tool, arguments, idempotent=idempotent, traceparent=ctx.traceparent)
        return result.structured_content if structured else _content(result)

    handler.__qualname__ = handler.__name__ = f"{upstream.name}:{tool}"
    return Action(
        name=name,
        version=1,
        risk=risk,
        description=definition.description or definition.title or tool,
        handler=handler,
        contract=contract,
        idempotent=idempotent,
        title=definition.title or definition.annotations.get("title"),
    )


def _content_contract(contract: Contract) -> Contract:
    """The contract of a tool without an output schema: it answers content blocks."""
    return dataclasses.replace(
        contract, output_adapter=_CONTENT_ADAPTER, output_schema=_CONTENT_SCHEMA, wraps_output=False, returns=Content
    )


def _content(result: types.CallToolResult) -> Content:
    """The upstream's content blocks as the gateway's (``_meta`` and annotations dropped)."""
    return Content.model_validate({"content": [_block(b) for b in result.content]})


def _block(block: types.ContentBlock) -> dict[str, Any]:
    if isinstance(block, types.ImageContent | types.AudioContent):
        return {"type": block.type, "data": block.data, "mimeType": block.mime_type}
    if isinstance(block, types.EmbeddedResource):
        inner = block.resource
        resource: dict[str, Any] = {"uri": str(inner.uri), "mimeType": inner.mime_type}
        if isinstance(inner, types.TextResourceContents):
            resource["text"] = inner.text
        elif isinstance(inner, types.BlobResourceContents):
            resource["blob"] = inner.blob
        return {"type": "resource", "resource": resource}
    if isinstance(block, types.ResourceLink):
        return {"type": "text", "text": f"{block.name}: {block.uri}"}
    return {"type": "text", "text": block.text}
