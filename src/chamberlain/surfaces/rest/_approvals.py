"""REST for approvers: ``/v1/approvals`` to list, show, approve and reject parked calls."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...approvals import ApprovalDesk
from ...errors import BadRequest, ChamberlainError, InvalidInput
from ...grants import Grant
from ...pipeline import Gateway
from .._credentials import presented_grant, requested_tenant
from .._refusals import recorded
from ._body import read_json
from ._problems import JSONResponse, problem_response

STATUSES = ("pending", "approved", "rejected", "expired", "executed", "failed")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    request_hash: str | None = None
    """The hash of the request the approver reviewed; refused if the request has changed."""


class ApprovalRoutes:
    def __init__(self, gateway: Gateway, desk: ApprovalDesk, max_body_bytes: int, anonymous_grant: str | None) -> None:
        self.gateway = gateway
        self.desk = desk
        self.max_body_bytes = max_body_bytes
        self.anonymous_grant = anonymous_grant

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/v1/approvals", self.index, methods=["GET"]),
            Route("/v1/approvals/{approval_id}", self.show, methods=["GET"]),
            Route("/v1/approvals/{approval_id}/approve", self.approve, methods=["POST"]),
            Route("/v1/approvals/{approval_id}/reject", self.reject, methods=["POST"]),
        ]

    async def _grant(self, request: Request) -> Grant:
        token = presented_grant(request.headers, self.anonymous_grant)
        return await self.gateway.authenticate(token, requested_tenant(request.headers))

    async def _refused(self, request: Request, asked: str, error: ChamberlainError, grant: Grant | None) -> Response:
        """Recorded (once: the desk records the refusals of a decision itself) and answered."""
        token, traceparent = presented_grant(request.headers, self.anonymous_grant), request.headers.get("traceparent")
        record = await recorded(self.gateway, asked, token, "rest", error, grant=grant, traceparent=traceparent)
        return problem_response(error, **record)

    async def index(self, request: Request) -> Response:
        status = request.query_params.get("status")
        grant: Grant | None = None
        try:
            grant = await self._grant(request)
            if status is not None and status not in STATUSES:
                raise BadRequest(f"status must be one of {', '.join(STATUSES)}", parameter="status")
            items = await self.desk.query(grant, status)
        except ChamberlainError as err:
            return await self._refused(request, "GET /v1/approvals", err, grant)
        return JSONResponse({"tenant": grant.tenant, "approvals": items})

    async def show(self, request: Request) -> Response:
        grant: Grant | None = None
        try:
            grant = await self._grant(request)
            return JSONResponse(await self.desk.show(grant, request.path_params["approval_id"]))
        except ChamberlainError as err:
            return await self._refused(request, "GET /v1/approvals/{approval_id}", err, grant)

    async def approve(self, request: Request) -> Response:
        return await self._decide(request, approve=True)

    async def reject(self, request: Request) -> Response:
        return await self._decide(request, approve=False)

    async def _decide(self, request: Request, *, approve: bool) -> Response:
        body, body_error = await read_json(request, self.max_body_bytes)
        grant: Grant | None = None
        try:
            grant = await self._grant(request)
            if body_error is not None:
                raise body_error
            decision = _decision(body)
            view = await self.desk.decide(
                grant,
                request.path_params["approval_id"],
                approve=approve,
                reason=decision.reason,
                expected_hash=decision.request_hash,
                surface="rest",
            )
        except ChamberlainError as err:
            verb = "approve" if approve else "reject"
            return await self._refused(request, f"POST /v1/approvals/{{approval_id}}/{verb}", err, grant)
        return JSONResponse(view)


def _decision(body: Any) -> Decision:
    try:
        return Decision.model_validate(body)
    except ValidationError as err:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in err.errors(include_url=False, include_input=False)
        ]
        raise InvalidInput(f"{err.error_count()} error(s) in the decision", errors=errors) from err
