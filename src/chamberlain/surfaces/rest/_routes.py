"""REST: actions, calls, grants, policies, approvals and the audit log, and ``/openapi.json``.

Only translation lives here: HTTP in, a Call to the Gateway, the Outcome out as
JSON or problem+json. Every rule is in the pipeline.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...approvals import ApprovalDesk
from ...errors import BadRequest, ChamberlainError, NotFound
from ...grants import Grant
from ...ids import trace_id_from_traceparent
from ...pipeline import REVERT_CALLS, Call, Gateway
from .._credentials import presented_grant, requested_tenant
from .._refusals import recorded
from ._approvals import ApprovalRoutes
from ._audit import AuditRoutes
from ._body import read_json
from ._errors import error_routes
from ._events import EventRoutes
from ._openapi import openapi_document
from ._problems import JSONResponse, problem_response
from ._text import names_without_nul


class RestSurface:
    def __init__(
        self,
        gateway: Gateway,
        max_body_bytes: int,
        anonymous_grant: str | None = None,
        desk: ApprovalDesk | None = None,
        heartbeat_s: float = 15.0,
    ) -> None:
        self.gateway = gateway
        self.heartbeat_s = heartbeat_s
        self.max_body_bytes = max_body_bytes
        self.anonymous_grant = anonymous_grant
        self.desk = desk
        self._openapi: bytes | None = None

    def token(self, request: Request) -> str | None:
        return presented_grant(request.headers, self.anonymous_grant)

    async def _grant(self, request: Request) -> Grant:
        return await self.gateway.authenticate(self.token(request), requested_tenant(request.headers))

    async def _refused(self, request: Request, asked: str, error: ChamberlainError, grant: Grant | None) -> Response:
        """A refused read, recorded like a refused call (in the grant's tenant's log once known)."""
        traceparent = request.headers.get("traceparent")
        record = await recorded(self.gateway, asked, self.token(request), "rest", error, grant=grant, traceparent=traceparent)
        return problem_response(error, **record)

    @property
    def routes(self) -> list[Route]:
        return names_without_nul(self._routes())

    def _routes(self) -> list[Route]:
        return [
            Route("/v1/actions", self.list_actions, methods=["GET"]),
            Route("/v1/actions/{name}", self.call_action, methods=["POST"]),
            Route("/v1/grants", self.issue_grant, methods=["POST"]),
            Route("/v1/grants/{grant_id}", self.revoke_grant, methods=["DELETE"]),
            Route("/v1/calls", self.list_calls, methods=["GET"]),
            Route("/v1/calls/{call_id}", self.get_call, methods=["GET"]),
            Route("/v1/calls/{call_id}/revert", self.revert_call, methods=["POST"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/v1/tenants/{tenant}/keys", self.tenant_keys, methods=["GET"]),
            # One route per path, so a 405 elsewhere names every method the path takes in Allow.
            Route("/v1/policies", self.policies, methods=["GET", "PUT"]),
            Route("/v1/catalog/search", self.search_catalog, methods=["POST"]),
            Route("/v1/quotes", self.create_quote, methods=["POST"]),
            *(ApprovalRoutes(self.gateway, self.desk, self.max_body_bytes, self.anonymous_grant).routes if self.desk else []),
            *(AuditRoutes(self.gateway, self.anonymous_grant).routes if self.gateway.audit is not None else []),
            *error_routes(),
            *(
                EventRoutes(self.gateway, self.anonymous_grant, self.heartbeat_s).routes
                if self.gateway.events is not None
                else []
            ),
        ]

    async def call_action(self, request: Request) -> Response:
        arguments, body_error = await read_json(request, self.max_body_bytes)
        return await self._call(request, request.path_params["name"], arguments, body_error)

    async def issue_grant(self, request: Request) -> Response:
        """``POST /v1/grants`` is the governed action ``grants.issue``."""
        arguments, body_error = await read_json(request, self.max_body_bytes)
        return await self._call(request, "grants.issue", arguments, body_error, created=True)

    async def revoke_grant(self, request: Request) -> Response:
        """``DELETE /v1/grants/{id}`` is the governed action ``grants.revoke``."""
        arguments: dict[str, Any] = {"grant_id": request.path_params["grant_id"]}
        if "reason" in request.query_params:
            arguments["reason"] = request.query_params["reason"]
        return await self._call(request, "grants.revoke", arguments, None)

    async def revert_call(self, request: Request) -> Response:
        """``POST /v1/calls/{id}/revert`` is a call of that call's revert action (``orders.refund.revert``);
        the body may give a ``reason``."""
        arguments, body_error = await read_json(request, self.max_body_bytes)
        return await self._call(request, REVERT_CALLS, arguments, body_error, revert_of=request.path_params["call_id"])

    async def policies(self, request: Request) -> Response:
        return await (self.put_policies(request) if request.method == "PUT" else self.get_policies(request))

    async def get_policies(self, request: Request) -> Response:
        """``GET /v1/policies`` is the governed action ``policies.get``."""
        return await self._call(request, "policies.get", {}, None)

    async def put_policies(self, request: Request) -> Response:
        """``PUT /v1/policies`` is the governed action ``policies.update`` (a new version)."""
        arguments, body_error = await read_json(request, self.max_body_bytes)
        return await self._call(request, "policies.update", arguments, body_error)

    async def search_catalog(self, request: Request) -> Response:
        """``POST /v1/catalog/search`` is the governed action ``catalog.search``."""
        arguments, body_error = await read_json(request, self.max_body_bytes)
        return await self._call(request, "catalog.search", arguments, body_error)

    async def create_quote(self, request: Request) -> Response:
        """``POST /v1/quotes`` is the governed action ``quotes.create`` (a signed quote)."""
        arguments, body_error = await read_json(request, self.max_body_bytes)
        return await self._call(request, "quotes.create", arguments, body_error, created=True)

    async def _call(
        self,
        request: Request,
        action: str,
        arguments: Any,
        body_error: ChamberlainError | None,
        created: bool = False,
        revert_of: str | None = None,
    ) -> Response:
        call = Call(
            action_name=action,
            arguments=arguments,
            token=self.token(request),
            surface="rest",
            trace_id=trace_id_from_traceparent(request.headers.get("traceparent")),
            traceparent=request.headers.get("traceparent"),
            requested_tenant=requested_tenant(request.headers),
            transport_error=body_error,
            idempotency_key=request.headers.get("idempotency-key"),
            revert_of=revert_of,
        )
        outcome = await self.gateway.call(call)
        call_id = outcome.shown_id
        headers = {"Chamberlain-Call-Id": call_id, "Chamberlain-Trace-Id": call.trace_id}
        if outcome.replay_of is not None:
            headers["Idempotent-Replayed"] = "true"
        if call.limit is not None:
            headers.update(call.limit.headers())
        if outcome.error is not None:
            response = problem_response(outcome.error, instance=f"/v1/calls/{call_id}", call_id=call_id)
            response.headers.update(headers)
            return response
        if outcome.pending:
            # Parked for a human: accepted, not done. The record is where the result will appear.
            pending = {"call_id": call_id, "action": call.action_name, "status": "pending_approval", "approval": outcome.approval}
            return JSONResponse(pending, status_code=202, headers={**headers, "Location": f"/v1/calls/{call_id}"})
        body = {
            "call_id": call_id,
            "action": call.action_name,
            "version": call.action.version if call.action else None,
            "result": outcome.result,
        }
        return JSONResponse(body, status_code=201 if created else 200, headers=headers)

    async def list_actions(self, request: Request) -> Response:
        try:
            grant = await self._grant(request)
        except ChamberlainError as err:
            return await self._refused(request, "GET /v1/actions", err, None)
        actions = await self.gateway.describe(grant)
        return JSONResponse({"tenant": grant.tenant, "principal": grant.principal.id, "actions": actions})

    async def get_call(self, request: Request) -> Response:
        grant: Grant | None = None
        try:
            grant = await self._grant(request)
            record = await self.gateway.record(grant, request.path_params["call_id"])
        except ChamberlainError as err:
            return await self._refused(request, "GET /v1/calls/{call_id}", err, grant)
        return JSONResponse(record)

    async def list_calls(self, request: Request) -> Response:
        """The tenant's call records, newest first, for a ``calls.read`` grant; filters
        ``principal``, ``action``, ``decision``, pages with ``before`` (a call id) and ``limit``."""
        params = request.query_params
        filters = {name: params.get(name) for name in ("principal", "action", "decision", "before")}
        grant: Grant | None = None
        try:
            grant = await self._grant(request)  # the grant first, as for every call
            limit = params.get("limit", "50")
            if not (limit.isascii() and limit.isdigit() and len(limit) <= 3 and 1 <= int(limit) <= 500):
                raise BadRequest("limit must be a whole number from 1 to 500", parameter="limit")
            found = await self.gateway.records(grant, limit=int(limit), **filters)
        except ChamberlainError as err:
            return await self._refused(request, "GET /v1/calls", err, grant)
        return JSONResponse({"tenant": grant.tenant, "calls": found})

    async def tenant_keys(self, request: Request) -> Response:
        """Public: the keys that verify this tenant's grants (a JWKS-like document)."""
        tenant = request.path_params["tenant"]
        keys = await self.gateway.authority.keys.published(tenant)
        if not keys:
            return problem_response(NotFound("no such tenant"))
        return JSONResponse({"tenant": tenant, "keys": keys})

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            approvals = {a.name: await self.gateway.approval_for(None, a) for a in self.gateway.surface}
            self._openapi = bytes(JSONResponse(openapi_document(self.gateway.surface, approvals=approvals)).body)
        return Response(self._openapi, media_type="application/json")
