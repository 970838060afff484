"""REST for auditors and agents: the tenant's audit log, its checkpoints and proofs.

``/v1/audit/checkpoint`` and ``/v1/audit/key`` answer in plain text, in the C2SP
formats other transparency-log tools read; the rest is JSON whose hashes are base64,
as in checkpoints. Who may read what is decided by the Gateway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ...errors import BadRequest, ChamberlainError
from ...grants import Grant
from ...pipeline import Gateway
from .._credentials import presented_grant, requested_tenant
from .._refusals import recorded
from ._problems import JSONResponse, problem_response

MAX_PAGE = 1000
MAX_INDEX = 2**31 - 1
"""The largest index or tree size a request may name: the log's positions are 32-bit in the
database (PostgreSQL refuses a larger number in the query, which was a 500)."""
PROOF = {"0": False, "false": False, "1": True, "true": True}
"""What ``?proof=`` may be; anything else is refused."""


def _int(request: Request, name: str, default: int | None = None, *, low: int = 0, high: int = MAX_INDEX) -> int | None:
    raw = request.query_params.get(name) if name in request.query_params else request.path_params.get(name)
    if raw is None:
        return default
    # ASCII only and short: str.isdigit() also passes "²", which int() refuses, and
    # int() refuses over 4300 digits; either would escape as a 500.
    text = str(raw)
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(high))) or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}", parameter=name)
    return int(text)


class AuditRoutes:
    def __init__(self, gateway: Gateway, anonymous_grant: str | None) -> None:
        self.gateway = gateway
        self.anonymous_grant = anonymous_grant

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/v1/audit/checkpoint", self._with(self.checkpoint, "checkpoint"), methods=["GET"]),
            Route("/v1/audit/key", self._with(self.key, "key"), methods=["GET"]),
            Route("/v1/audit/entries", self._with(self.entries, "entries"), methods=["GET"]),
            Route("/v1/audit/entries/{index}", self._with(self.entry, "entries/{index}"), methods=["GET"]),
            Route("/v1/audit/consistency", self._with(self.consistency, "consistency"), methods=["GET"]),
        ]

    def _with(
        self, handler: Callable[[Request, Grant], Awaitable[Response]], path: str
    ) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate, then answer; any refusal is recorded and becomes problem+json."""

        async def endpoint(request: Request) -> Response:
            token = presented_grant(request.headers, self.anonymous_grant)
            grant: Grant | None = None
            try:
                grant = await self.gateway.authenticate(token, requested_tenant(request.headers))
                return await handler(request, grant)
            except ChamberlainError as err:
                asked, traceparent = f"GET /v1/audit/{path}", request.headers.get("traceparent")
                record = await recorded(self.gateway, asked, token, "rest", err, grant=grant, traceparent=traceparent)
                return problem_response(err, **record)

        return endpoint

    async def checkpoint(self, request: Request, grant: Grant) -> Response:
        return PlainTextResponse(await self.gateway.audit_checkpoint(grant), headers={"Cache-Control": "no-cache"})

    async def key(self, request: Request, grant: Grant) -> Response:
        return PlainTextResponse(await self.gateway.audit_key(grant) + "\n")

    async def entries(self, request: Request, grant: Grant) -> Response:
        start = _int(request, "from", 0)
        limit = _int(request, "limit", 100, low=1, high=MAX_PAGE)
        assert start is not None and limit is not None
        # A page ends at the largest position the log can hold (the query names its end).
        items = await self.gateway.audit_entries(grant, start, min(limit, MAX_INDEX - start))
        return JSONResponse({"tenant": grant.tenant, "from": start, "entries": items})

    async def entry(self, request: Request, grant: Grant) -> Response:
        index = _int(request, "index")
        assert index is not None
        proof = request.query_params.get("proof", "0")
        if proof not in PROOF:  # not silently "no": a client asking for a proof must get one, or a refusal
            raise BadRequest("proof is 1 or true (with the inclusion proof), or 0 or false", parameter="proof")
        return JSONResponse(await self.gateway.audit_entry(grant, index, proof=PROOF[proof]))

    async def consistency(self, request: Request, grant: Grant) -> Response:
        size1 = _int(request, "from", low=1)
        if size1 is None:
            raise BadRequest("from (the older tree size) is required", parameter="from")
        return JSONResponse(await self.gateway.audit_consistency(grant, size1, _int(request, "to", low=1)))
