"""What the MCP endpoint answers at the HTTP level, before any JSON-RPC is read.

* ``GET`` is 405: stateless Chamberlain never sends server-initiated messages, so a
  standalone SSE stream would only hold a connection open (the spec allows 405).
* A request without a usable grant is 401 with ``WWW-Authenticate: Bearer
  resource_metadata=...`` (RFC 9728), which is how standard MCP clients find the token
  endpoint. The refusal is recorded like any other.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ...errors import AuthenticationError, ChamberlainError, MethodNotAllowed
from ...pipeline import Gateway
from .._credentials import presented_grant
from .._refusals import record_refusal
from ..oauth import challenge
from ..rest._problems import problem_response


class McpGate:
    def __init__(self, app: ASGIApp, gateway: Gateway, anonymous_grant: str | None, public_url: str | None) -> None:
        self.app = app
        self.gateway = gateway
        self.anonymous_grant = anonymous_grant
        self.public_url = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            error = MethodNotAllowed("the MCP endpoint takes POST; it offers no standalone SSE stream")
            await problem_response(error, headers={"Allow": "POST"})(scope, receive, send)
            return
        if scope["method"] == "POST":
            request = Request(scope)
            token = presented_grant(request.headers, self.anonymous_grant)
            try:
                await self.gateway.authenticate(token)
            except ChamberlainError as err:
                traceparent = request.headers.get("traceparent")
                call = await record_refusal(self.gateway, "mcp", None, token, "mcp", err, traceparent=traceparent)
                headers = {}
                if isinstance(err, AuthenticationError):
                    headers["WWW-Authenticate"] = challenge(request, self.public_url, "invalid_token" if token else None)
                await problem_response(err, headers=headers, call_id=call.id)(scope, receive, send)
                return
        await self.app(scope, receive, send)
