"""What the MCP endpoint answers at the HTTP level, before any JSON-RPC is read.

* ``GET`` is 405: stateless Chamberlain never sends server-initiated messages, so a
  standalone SSE stream would only hold a connection open (the spec allows 405).
* A request without a usable grant is 401 with ``WWW-Authenticate: Bearer
  resource_metadata=...`` (RFC 9728), which is how standard MCP clients find the token
  endpoint. The refusal is recorded like any other.
* A body over the size limit is 413 problem+json, and one that does not parse (malformed,
  or nested deeper than the SDK's parser takes) is the JSON-RPC parse error the SDK would
  send (``-32700``, with the problem as its ``data``): both are recorded in the grant's
  tenant like any other refusal, which the SDK, answering them itself, would not do.
"""

from __future__ import annotations

import orjson
import pydantic_core
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ...errors import AuthenticationError, ChamberlainError, MalformedJSON, MethodNotAllowed
from ...grants import Grant
from ...pipeline import Gateway
from .._credentials import presented_grant
from .._refusals import record_refusal
from ..oauth import challenge
from ..rest._body import read_limited, replaying
from ..rest._problems import problem_response

PARSE_ERROR = -32700


class McpGate:
    def __init__(
        self,
        app: ASGIApp,
        gateway: Gateway,
        anonymous_grant: str | None,
        public_url: str | None,
        *,
        max_body_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.gateway = gateway
        self.anonymous_grant = anonymous_grant
        self.public_url = public_url
        self.max_body_bytes = max_body_bytes

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
            traceparent = request.headers.get("traceparent")
            try:
                grant = await self.gateway.authenticate(token)
            except ChamberlainError as err:
                call = await record_refusal(self.gateway, "mcp", None, token, "mcp", err, traceparent=traceparent)
                headers = {}
                if isinstance(err, AuthenticationError):
                    headers["WWW-Authenticate"] = challenge(request, self.public_url, "invalid_token" if token else None)
                await problem_response(err, headers=headers, call_id=call.id)(scope, receive, send)
                return
            if self.max_body_bytes is not None:
                checked = await self._checked_body(scope, receive, send, grant, token, traceparent)
                if checked is None:
                    return
                receive = checked
        await self.app(scope, receive, send)

    async def _checked_body(
        self, scope: Scope, receive: Receive, send: Send, grant: Grant, token: str | None, tp: str | None
    ) -> Receive | None:
        """The body, read within the size limit and parsed as the SDK will parse it; a
        receive that replays it, or None once the refusal was recorded and sent."""
        assert self.max_body_bytes is not None
        error: ChamberlainError | None
        try:
            body, error = await read_limited(Request(scope, receive), self.max_body_bytes)
        except ClientDisconnect:
            return None  # nobody is left to answer
        if error is None:
            try:
                pydantic_core.from_json(body)
            except ValueError as err:
                error = MalformedJSON(f"Parse error: {err}")
        if error is None:
            return replaying(body, receive)
        call = await record_refusal(self.gateway, "mcp", None, token, "mcp", error, grant=grant, traceparent=tp)
        if isinstance(error, MalformedJSON):
            fault = {"code": PARSE_ERROR, "message": error.detail, "data": error.to_problem(call_id=call.id)}
            answer = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": fault})
            await Response(answer, status_code=400, media_type="application/json")(scope, receive, send)
        else:
            await problem_response(error, call_id=call.id)(scope, receive, send)
        return None
