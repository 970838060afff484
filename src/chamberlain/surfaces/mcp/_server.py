"""MCP: the official SDK's low-level server, with every tool call sent through the Gateway.

The SDK owns the protocol (both the ``initialize`` handshake revisions and the
stateless 2026-07-28 envelope, Streamable HTTP, JSON-RPC); this module only maps
tools/resources onto actions and Outcomes back onto results. It runs stateless
with JSON responses, so any gateway process can answer any request; the one stream is
``subscriptions/listen`` (see ``_listen``), fed by the tenant's events.

Refusals are tool results with ``isError: true`` and the RFC 9457 problem in
``structuredContent``, so a model can read and correct them. An unknown tool or
resource is a protocol fault (JSON-RPC ``-32602``), as the MCP spec asks.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import mcp_types as types
import orjson
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from ... import __version__
from ...actions import Action
from ...errors import ChamberlainError, InvalidInput, UnknownAction
from ...grants import Grant
from ...ids import trace_id_from_traceparent
from ...pipeline import Call, Gateway, Outcome, unexpected_failure
from ...timeutil import spoken_duration
from .._credentials import presented_grant, requested_tenant
from .._refusals import recorded
from ..rest._text import nul_refusal, readable
from ._listen import ResourceListener
from ._resources import CALL_SCHEME, CALL_TEMPLATE, ResourceRoute, describe, render, resource_routes

log = logging.getLogger("chamberlain.mcp")

STATUS_TOOL = "chamberlain.call_status"
# Implementation-defined JSON-RPC server error (-32000..-32099): the grant was refused.
AUTH_ERROR_CODE = -32001


def _headers(ctx: ServerRequestContext[Any, Any]) -> Any:
    request = ctx.request
    return getattr(request, "headers", None) or {}


KEY_ARGUMENT = "idempotency_key"
"""The tool argument that carries an idempotency key for clients that cannot set ``_meta``
(most model-driven ones): the surface takes it out before the action sees the arguments."""


def _takes_key_argument(action: Action) -> bool:
    """Writes do, unless the action has an argument of that name itself."""
    return action.risk != "read" and KEY_ARGUMENT not in action.contract.input_schema.get("properties", {})


def _keyed_schema(action: Action) -> dict[str, Any]:
    """The input schema with ``idempotency_key`` added for writes (required where the
    action requires a key), so a model can send one and resend it on a retry."""
    schema = action.contract.input_schema
    if not _takes_key_argument(action):
        return schema
    key = {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "description": "A unique value for this operation (a UUID); send the same value if you retry it, so it runs once.",
    }
    keyed = {**schema, "properties": {**schema.get("properties", {}), KEY_ARGUMENT: key}}
    if action.requires_idempotency_key:
        keyed["required"] = [*schema.get("required", []), KEY_ARGUMENT]
    return keyed


def _tool(action: Action, approval: dict[str, Any]) -> types.Tool:
    hints = action.hints
    return types.Tool(
        name=action.name,
        title=action.title,
        description=f"{action.description}\n\n{governance_note(action, approval)}",
        input_schema=_keyed_schema(action),
        output_schema=None if action.contract.is_content else action.contract.output_schema,
        annotations=types.ToolAnnotations(
            title=action.title,
            read_only_hint=hints["readOnlyHint"],
            destructive_hint=hints["destructiveHint"],
            idempotent_hint=hints["idempotentHint"],
            open_world_hint=hints["openWorldHint"],
        ),
        _meta={
            "chamberlain/risk": action.risk,
            "chamberlain/version": action.version,
            "chamberlain/idempotency_key": "required" if action.requires_idempotency_key else "optional",
            **({"chamberlain/limits": limits} if (limits := action.describe()["limits"]) else {}),
            "chamberlain/reversible": action.reversibility(),
            "chamberlain/approval": approval,
        },
    )


def governance_note(action: Action, approval: dict[str, Any]) -> str:
    """The rules of the tool in words, for the model reading the description (clients
    that read ``_meta`` get the same facts as data)."""
    parts = [f"Risk: {action.risk}."]
    if action.requires_idempotency_key:
        parts.append("Needs an idempotency_key: reuse it when retrying, so it runs once.")
    if action.rate or action.quota:
        parts.append(f"Limited to {' and '.join(str(r) for r in (action.rate, action.quota) if r)}.")
    if approval["required"] == "always":
        parts.append("Always waits for human approval; follow it with chamberlain.call_status.")
    elif approval["required"] == "sometimes":
        parts.append(f"May wait for human approval ({'; '.join(approval['why'])}).")
    if action.undo is not None:
        window = f" within {spoken_duration(action.undo.window)}" if action.undo.window else ""
        parts.append(f"Reversible{window}: call {action.undo.action} with the call_id.")
    elif action.reverts is not None:
        parts.append(f"Reverts one call of {action.reverts}; a call is reverted at most once.")
    elif action.risk not in ("read", "data_export"):
        parts.append("Irreversible: it cannot be undone.")
    return " ".join(parts)


def _status_tool() -> types.Tool:
    return types.Tool(
        name=STATUS_TOOL,
        title="Status of a call",
        description=(
            "The record of one of your calls: its decision and outcome and, for a call parked for "
            "human approval, the approval's status, steps and (once it ran) the result."
        ),
        input_schema={
            "type": "object",
            "properties": {"call_id": {"type": "string", "description": "The call_id a tool result gave you."}},
            "required": ["call_id"],
            "additionalProperties": False,
        },
        annotations=types.ToolAnnotations(
            title="Status of a call", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
    )


IDEMPOTENCY_KEY = "chamberlain/idempotency_key"
"""Where a ``tools/call`` carries its idempotency key: ``params._meta`` (MCP has no headers
of its own over stdio, and ``_meta`` is the protocol's place for such request data)."""


def _meta(outcome: Outcome) -> dict[str, Any]:
    meta: dict[str, Any] = {"chamberlain/call_id": outcome.shown_id}
    if outcome.replay_of is not None:
        meta["chamberlain/idempotent_replayed"] = True
    limit = outcome.call.limit
    if limit is not None:
        meta["chamberlain/ratelimit"] = {
            "policy": str(limit.rate),
            "remaining": limit.verdict.remaining,
            "reset_s": round(limit.verdict.reset_s, 3),
        }
    return meta


def _meta_key(meta: Any) -> str | None:
    value = meta.get(IDEMPOTENCY_KEY) if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def _meta_traceparent(meta: Any) -> str | None:
    """W3C trace context in the request's ``_meta`` (the MCP convention for clients that
    cannot set HTTP headers, or talk over stdio); an HTTP header wins."""
    value = meta.get("traceparent") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def _guarded(handler: Handler) -> Handler:
    """``handler``, answering a failure it did not expect as the JSON-RPC internal error
    (with the problem as ``data``), logged here: the SDK would send the exception's own
    text (a database's error, with its SQL) to the client."""

    @functools.wraps(handler)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await handler(*args, **kwargs)
        except MCPError:
            raise
        except Exception as err:
            log.exception("MCP %s failed", handler.__name__)
            error = unexpected_failure(err, "the gateway failed to answer this request; nothing was changed")
            raise MCPError(types.INTERNAL_ERROR, error.detail, error.to_problem()) from err

    return guarded  # type: ignore[return-value]


class McpSurface:
    def __init__(
        self, gateway: Gateway, anonymous_grant: str | None = None, name: str = "chamberlain", heartbeat_s: float = 15.0
    ) -> None:
        if STATUS_TOOL in gateway.surface:
            raise ValueError(f"{STATUS_TOOL} is the gateway's own tool; rename the action")
        self.gateway = gateway
        self.anonymous_grant = anonymous_grant
        self._routes = resource_routes(gateway.surface)
        self.server: Server[Any] = Server(
            name,
            version=__version__,
            instructions=gateway.surface.description or None,
            on_list_tools=_guarded(self.list_tools),
            on_call_tool=_guarded(self.call_tool),
            on_list_resources=_guarded(self.list_resources),
            on_list_resource_templates=_guarded(self.list_resource_templates),
            on_read_resource=_guarded(self.read_resource),
            on_subscriptions_listen=ResourceListener(gateway, self._routes, self._listener_grant, self._token, heartbeat_s),
        )

    def _token(self, ctx: ServerRequestContext[Any, Any]) -> str | None:
        return presented_grant(_headers(ctx), self.anonymous_grant)

    async def _grant(self, ctx: ServerRequestContext[Any, Any], asked: str) -> Grant:
        try:
            return await self.gateway.authenticate(self._token(ctx), requested_tenant(_headers(ctx)))
        except ChamberlainError as err:
            record = await self._recorded(ctx, asked, err, None)
            raise MCPError(AUTH_ERROR_CODE, err.detail, err.to_problem(**record)) from err

    async def _listener_grant(self, ctx: ServerRequestContext[Any, Any]) -> Grant:
        return await self._grant(ctx, "subscriptions/listen")

    async def _recorded(
        self, ctx: ServerRequestContext[Any, Any], asked: str, error: ChamberlainError, grant: Grant | None
    ) -> dict[str, Any]:
        """A refused read, recorded like a refused call; the problem members naming its record."""
        traceparent = _headers(ctx).get("traceparent")
        return await recorded(self.gateway, asked, self._token(ctx), "mcp", error, grant=grant, traceparent=traceparent)

    async def _run(
        self, ctx: ServerRequestContext[Any, Any], name: str, arguments: Any, meta: Any = None, keyed: bool = False
    ) -> Outcome:
        """Send a call through the gateway; ``keyed`` tool calls honour an idempotency key
        (in ``_meta``, or the HTTP ``Idempotency-Key`` header); resource reads do not."""
        headers = _headers(ctx)
        traceparent = headers.get("traceparent") or _meta_traceparent(meta)
        call = Call(
            action_name=readable(name),
            arguments=arguments,
            transport_error=nul_refusal(arguments),  # no NUL reaches a database (see rest._text)
            token=self._token(ctx),
            surface="mcp",
            trace_id=trace_id_from_traceparent(traceparent),
            traceparent=traceparent,
            requested_tenant=requested_tenant(headers),
            idempotency_key=(_meta_key(meta) or headers.get("idempotency-key")) if keyed else None,
        )
        return await self.gateway.call(call)

    async def list_tools(self, ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
        grant = await self._grant(ctx, "tools/list")
        tools = [_tool(a, await self.gateway.approval_for(grant, a)) for a in self.gateway.actions_for(grant)]
        return types.ListToolsResult(tools=[*tools, _status_tool()])

    async def call_tool(self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name == STATUS_TOOL:
            return await self._call_status(ctx, params.arguments or {})
        arguments = params.arguments if params.arguments is not None else {}
        key = self._key_argument(params.name, arguments)
        meta = {IDEMPOTENCY_KEY: key, **(params.meta or {})} if key is not None else params.meta
        outcome = await self._run(ctx, params.name, arguments, meta, keyed=True)
        if outcome.pending:
            return _pending(outcome)
        if outcome.error is None:
            if outcome.call.action is not None and outcome.call.action.contract.is_content:
                return types.CallToolResult(content=outcome.result["content"], _meta=_meta(outcome))
            text = orjson.dumps(outcome.result).decode()
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=text)],
                structured_content=outcome.result,
                _meta=_meta(outcome),
            )
        problem = outcome.error.to_problem(call_id=outcome.shown_id)
        if isinstance(outcome.error, UnknownAction):
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}", problem)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"{outcome.error.title}: {outcome.error.detail}")],
            structured_content=problem,
            is_error=True,
            _meta=_meta(outcome),
        )

    def _key_argument(self, name: str, arguments: Any) -> str | None:
        """Take the ``idempotency_key`` argument out of a write's arguments (see ``_keyed_schema``)."""
        action = self.gateway.surface.get(name)
        if action is None or not isinstance(arguments, dict) or not _takes_key_argument(action):
            return None
        key = arguments.pop(KEY_ARGUMENT, None)
        return key if isinstance(key, str) else None

    async def _call_status(self, ctx: ServerRequestContext[Any, Any], arguments: dict[str, Any]) -> types.CallToolResult:
        """A read of the caller's own record, like ``GET /v1/calls/{id}`` (not itself a call)."""
        grant = await self._grant(ctx, STATUS_TOOL)
        call_id = arguments.get("call_id")
        try:
            if not isinstance(call_id, str):
                raise InvalidInput(
                    "call_id must be a string", errors=[{"loc": ["call_id"], "msg": "required", "type": "missing"}]
                )
            record = await self.gateway.record(grant, readable(call_id))
        except ChamberlainError as err:
            named = await self._recorded(ctx, STATUS_TOOL, err, grant)
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"{err.title}: {err.detail}")],
                structured_content=err.to_problem(**named),
                is_error=True,
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=orjson.dumps(record).decode())], structured_content=record
        )

    async def list_resources(self, ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListResourcesResult:
        visible = await self._visible_routes(ctx)
        return types.ListResourcesResult(resources=[describe(r) for r in visible if not r.is_template])  # type: ignore[misc]

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: Any
    ) -> types.ListResourceTemplatesResult:
        visible = await self._visible_routes(ctx)
        templates = [describe(r) for r in visible if r.is_template]
        templates.append(
            types.ResourceTemplate(
                uri_template=CALL_TEMPLATE,
                name="call-record",
                description="The record of one of this tenant's calls.",
                mime_type="application/json",
            )
        )
        return types.ListResourceTemplatesResult(resource_templates=templates)  # type: ignore[arg-type]

    async def _visible_routes(self, ctx: ServerRequestContext[Any, Any]) -> list[ResourceRoute]:
        grant = await self._grant(ctx, "resources/list")
        allowed = {a.name for a in self.gateway.actions_for(grant)}
        return [r for r in self._routes if r.action.name in allowed]

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri.startswith(CALL_SCHEME):
            grant = await self._grant(ctx, "resources/read")
            try:
                record = await self.gateway.record(grant, readable(uri.removeprefix(CALL_SCHEME)))
            except ChamberlainError as err:
                record = await self._recorded(ctx, "resources/read", err, grant)
                raise MCPError(types.INVALID_PARAMS, err.detail, err.to_problem(uri=uri, **record)) from err
            contents: Any = types.TextResourceContents(uri=uri, mime_type="application/json", text=orjson.dumps(record).decode())
            return types.ReadResourceResult(contents=[contents])
        for route in self._routes:
            arguments = route.match(uri)
            if arguments is None:
                continue
            outcome = await self._run(ctx, route.action.name, arguments)
            if outcome.error is not None:
                problem = outcome.error.to_problem(call_id=outcome.call.id, uri=uri)
                raise MCPError(_code(outcome.error), outcome.error.detail, problem)
            return types.ReadResourceResult(contents=[render(uri, route.action, outcome.result)])
        raise MCPError(types.INVALID_PARAMS, f"Resource not found: {uri}", {"uri": uri})


def _pending(outcome: Outcome) -> types.CallToolResult:
    """A parked call: not a result yet, so not the tool's output schema. It is marked as an
    error result so clients do not hold it to that schema, and says plainly what to do next."""
    approval = outcome.approval or {}
    call_id = outcome.shown_id
    text = (
        f"Pending approval: {'; '.join(approval.get('why', [])) or 'a human must approve this call'}. "
        f"Nothing has happened yet. Approval {approval.get('id')} needs {approval.get('approvals_required')} approver(s) "
        f"before {approval.get('deadline')}. Check with the {STATUS_TOOL} tool (call_id {call_id!r}) "
        f"or read {CALL_SCHEME}{call_id} (MCP 2026-07-28 clients can listen for its updates); do not repeat the call."
    )
    body = {
        "status": "pending_approval",
        "code": "approval-pending",
        "call_id": call_id,
        "approval": approval,
        "follow": {
            "tool": STATUS_TOOL,
            "arguments": {"call_id": call_id},
            "resource": f"{CALL_SCHEME}{call_id}",
            "listen": {"resource_subscriptions": [f"{CALL_SCHEME}{call_id}"]},
        },
    }
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=body,
        is_error=True,
        _meta={**_meta(outcome), "chamberlain/status": "pending_approval"},
    )


def _code(error: ChamberlainError) -> int:
    return (
        AUTH_ERROR_CODE if error.status in (401, 403) else types.INTERNAL_ERROR if error.status >= 500 else types.INVALID_PARAMS
    )
