"""REST for approvers: ``/v1/approvals`` to list, show, approve and reject parked calls."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...approvals import ApprovalDesk
from ...errors import ChamberlainError, InvalidInput
from ...pipeline import Gateway
from .._credentials import presented_grant
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

    async def index(self, request: Request) -> Response:
        status = request.query_params.get("status")
        try:
            if status is not None and status not in STATUSES:
                raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", errors=[])
            grant = await self.gateway.authenticate(presented_grant(request.headers, self.anonymous_grant))
            items = await self.desk.query(grant, status)
        except ChamberlainError as err:
            return problem_response(err)
        return JSONResponse({"tenant": grant.tenant, "approvals": items})

    async def show(self, request: Request) -> Response:
        try:
            grant = await self.gateway.authenticate(presented_grant(request.headers, self.anonymous_grant))
            return JSONResponse(await self.desk.show(grant, request.path_params["approval_id"]))
        except ChamberlainError as err:
            return problem_response(err)

    async def approve(self, request: Request) -> Response:
        return await self._decide(request, approve=True)

    async def reject(self, request: Request) -> Response:
        return await self._decide(request, approve=False)

    async def _decide(self, request: Request, *, approve: bool) -> Response:
        body, body_error = await read_json(request, self.max_body_bytes)
        try:
            grant = await self.gateway.authenticate(presented_grant(request.headers, self.anonymous_grant))
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
            return problem_response(err)
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
