"""MCP: the official SDK's low-level server, with every tool call sent through the Gateway.

The SDK owns the protocol (both the ``initialize`` handshake revisions and the
stateless 2026-07-28 envelope, Streamable HTTP, JSON-RPC); this module only maps
tools/resources onto actions and Outcomes back onto results. It runs stateless
with JSON responses, so any gateway process can answer any request.

Refusals are tool results with ``isError: true`` and the RFC 9457 problem in
``structuredContent``, so a model can read and correct them. An unknown tool or
resource is a protocol fault (JSON-RPC ``-32602``), as the MCP spec asks.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
import orjson
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from ... import __version__
from ...actions import Action
from ...errors import ChamberlainError, UnknownAction
from ...grants import Grant
from ...ids import trace_id_from_traceparent
from ...pipeline import Call, Gateway, Outcome
from .._credentials import presented_grant, requested_tenant
from ._resources import ResourceRoute, describe, render, resource_routes

CALL_TEMPLATE = "chamberlain://calls/{call_id}"
CALL_SCHEME = "chamberlain://calls/"
# Implementation-defined JSON-RPC server error (-32000..-32099): the grant was refused.
AUTH_ERROR_CODE = -32001


def _headers(ctx: ServerRequestContext[Any, Any]) -> Any:
    request = ctx.request
    return getattr(request, "headers", None) or {}


def _tool(action: Action) -> types.Tool:
    hints = action.hints
    return types.Tool(
        name=action.name,
        title=action.title,
        description=action.description,
        input_schema=action.contract.input_schema,
        output_schema=None if action.contract.is_content else action.contract.output_schema,
        annotations=types.ToolAnnotations(
            title=action.title,
            read_only_hint=hints["readOnlyHint"],
            destructive_hint=hints["destructiveHint"],
            idempotent_hint=hints["idempotentHint"],
            open_world_hint=hints["openWorldHint"],
        ),
        _meta={"chamberlain/risk": action.risk, "chamberlain/version": action.version},
    )


class McpSurface:
    def __init__(self, gateway: Gateway, anonymous_grant: str | None = None, name: str = "chamberlain") -> None:
        self.gateway = gateway
        self.anonymous_grant = anonymous_grant
        self._routes = resource_routes(gateway.surface)
        self.server: Server[Any] = Server(
            name,
            version=__version__,
            instructions=gateway.surface.description or None,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.list_resource_templates,
            on_read_resource=self.read_resource,
        )

    def _token(self, ctx: ServerRequestContext[Any, Any]) -> str | None:
        return presented_grant(_headers(ctx), self.anonymous_grant)

    async def _grant(self, ctx: ServerRequestContext[Any, Any]) -> Grant:
        try:
            return await self.gateway.authenticate(self._token(ctx))
        except ChamberlainError as err:
            raise MCPError(AUTH_ERROR_CODE, err.detail, err.to_problem()) from err

    async def _run(self, ctx: ServerRequestContext[Any, Any], name: str, arguments: Any) -> Outcome:
        headers = _headers(ctx)
        call = Call(
            action_name=name,
            arguments=arguments,
            token=self._token(ctx),
            surface="mcp",
            trace_id=trace_id_from_traceparent(headers.get("traceparent")),
            requested_tenant=requested_tenant(headers),
        )
        return await self.gateway.call(call)

    async def list_tools(self, ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
        grant = await self._grant(ctx)
        return types.ListToolsResult(tools=[_tool(a) for a in self.gateway.actions_for(grant)])

    async def call_tool(self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        outcome = await self._run(ctx, params.name, params.arguments if params.arguments is not None else {})
        if outcome.error is None:
            if outcome.call.action is not None and outcome.call.action.contract.is_content:
                return types.CallToolResult(content=outcome.result["content"], _meta={"chamberlain/call_id": outcome.call.id})
            text = orjson.dumps(outcome.result).decode()
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=text)],
                structured_content=outcome.result,
                _meta={"chamberlain/call_id": outcome.call.id},
            )
        problem = outcome.error.to_problem(call_id=outcome.call.id)
        if isinstance(outcome.error, UnknownAction):
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}", problem)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"{outcome.error.title}: {outcome.error.detail}")],
            structured_content=problem,
            is_error=True,
            _meta={"chamberlain/call_id": outcome.call.id},
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
        grant = await self._grant(ctx)
        allowed = {a.name for a in self.gateway.actions_for(grant)}
        return [r for r in self._routes if r.action.name in allowed]

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri.startswith(CALL_SCHEME):
            grant = await self._grant(ctx)
            try:
                record = await self.gateway.record(grant, uri.removeprefix(CALL_SCHEME))
            except ChamberlainError as err:
                raise MCPError(types.INVALID_PARAMS, err.detail, err.to_problem(uri=uri)) from err
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


def _code(error: ChamberlainError) -> int:
    return (
        AUTH_ERROR_CODE if error.status in (401, 403) else types.INTERNAL_ERROR if error.status >= 500 else types.INVALID_PARAMS
    )
