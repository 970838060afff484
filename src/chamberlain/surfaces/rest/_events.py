"""``GET /v1/events``: the tenant's events as a resumable Server-Sent Events stream.

Each event is an SSE message whose ``id`` is its per-tenant ``sequence``, whose
``event`` is its CloudEvents type and whose ``data`` is the CloudEvent (JSON, one
line). A client that reconnects with ``Last-Event-ID`` gets every event it missed,
once, from the outbox, then the live ones. Which types a grant sees is its own
business: a grant must cover ``events.<type>`` (``events.*`` for all).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ...errors import BadRequest, ChamberlainError, EventsGone, SlowConsumer
from ...events import GATEWAY_EVENTS, Batch, EventFilter, Subscriber, allowed_types, authorized_types
from ...grants import Grant
from ...pipeline import Gateway
from ...timeutil import utc_now
from .._credentials import presented_grant, requested_tenant
from .._refusals import record_refusal, recorded
from ._problems import JSONResponse, problem_response

_PAGE = 500


def frame(event: dict[str, Any]) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event["sequence"], event["type"].encode(), orjson.dumps(event))


def _error_frame(error: ChamberlainError) -> bytes:
    return b"event: error\ndata: %s\n\n" % orjson.dumps(error.to_problem())


class EventRoutes:
    def __init__(self, gateway: Gateway, anonymous_grant: str | None, heartbeat_s: float) -> None:
        self.gateway = gateway
        self.anonymous_grant = anonymous_grant
        self.heartbeat_s = heartbeat_s

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/v1/events", self.stream, methods=["GET"]),
            Route("/v1/events/types", self.types, methods=["GET"]),
        ]

    def _allowed(self, grant: Grant) -> list[str]:
        return sorted(allowed_types(grant, self.gateway.events.types, self.gateway.authority.audience, utc_now()))

    async def types(self, request: Request) -> Response:
        """The event types this grant may subscribe to, with what each means."""
        token = presented_grant(request.headers, self.anonymous_grant)
        try:
            grant = await self.gateway.authenticate(token, requested_tenant(request.headers))
        except ChamberlainError as err:
            traceparent = request.headers.get("traceparent")
            record = await recorded(self.gateway, "GET /v1/events/types", token, "rest", err, traceparent=traceparent)
            return problem_response(err, **record)
        described = {**self.gateway.surface.events, **GATEWAY_EVENTS}
        return JSONResponse({"tenant": grant.tenant, "types": {t: described.get(t, "") for t in self._allowed(grant)}})

    async def stream(self, request: Request) -> Response:
        token = presented_grant(request.headers, self.anonymous_grant)
        grant: Grant | None = None
        try:
            grant = await self.gateway.authenticate(token, requested_tenant(request.headers))
            wants = self._filter(grant, request.query_params.get("types"), request.query_params.get("subject"))
            after = await self._resume_point(grant.tenant, request)
        except ChamberlainError as err:
            asked = {k: request.query_params[k] for k in ("types", "subject", "after") if k in request.query_params}
            refused = await record_refusal(
                self.gateway, "events", asked, token, "rest", err, grant=grant, traceparent=request.headers.get("traceparent")
            )
            return problem_response(err, call_id=refused.id)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        messages = self._messages(grant, token or "", wants, after)
        return StreamingResponse(messages, media_type="text/event-stream", headers=headers)

    def _filter(self, grant: Grant, types: str | None, subject: str | None) -> EventFilter:
        patterns = None if types is None else types.split(",")
        chosen = authorized_types(grant, patterns, self.gateway.events.types, self.gateway.authority.audience, utc_now())
        return EventFilter(types=frozenset(chosen), subject=subject)

    async def _resume_point(self, tenant: str, request: Request) -> int | None:
        raw = request.headers.get("last-event-id") or request.query_params.get("after")
        if raw is None:
            return None
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # isdigit() alone passes "²", which int() refuses
            raise BadRequest(
                "Last-Event-ID is the id (sequence number) of the last event you received", parameter="Last-Event-ID"
            )
        after = int(raw)
        oldest = await self.gateway.events.oldest(tenant)
        if oldest is not None and after < oldest - 1:
            raise EventsGone(f"events after {after} are no longer all kept; the oldest kept is {oldest}", oldest=oldest)
        return after

    async def _messages(
        self, grant: Grant, token: str, wants: Callable[[dict[str, Any]], bool], after: int | None
    ) -> AsyncIterator[bytes]:
        hub = self.gateway.events
        async with hub.subscribe(grant.tenant, wants) as subscriber:
            last = after if after is not None else await hub.latest(grant.tenant)
            while True:  # replay what was missed, straight from the outbox
                batch = await hub.read(grant.tenant, last, _PAGE)
                for event in batch:
                    last = event["sequence"]
                    if wants(event):
                        yield frame(event)
                if len(batch) < _PAGE:
                    break
            yield b": live\n\n"
            async for message in self._live(token, subscriber, last):
                yield message

    async def _live(self, token: str, subscriber: Subscriber, last: int) -> AsyncIterator[bytes]:
        while True:
            if subscriber.overflowed:
                yield _error_frame(SlowConsumer(f"more than {subscriber.limit} events behind; resume from id {last}"))
                return
            batch = await subscriber.next(self.heartbeat_s)
            if batch is None:
                try:  # a long stream answers to revocation and expiry like every call does
                    await self.gateway.authority.verify(token)
                except ChamberlainError as err:
                    yield _error_frame(err)
                    return
                yield b": heartbeat\n\n"
                continue
            if isinstance(batch, Batch) and batch[0]["sequence"] > last:
                # The usual case: rendered once, sent by every stream with this filter.
                if "sse" not in batch.memo:
                    batch.memo["sse"] = b"".join(frame(event) for event in batch)
                last = batch[-1]["sequence"]
                yield batch.memo["sse"]
                continue
            fresh = [event for event in batch if event["sequence"] > last]
            if fresh:
                last = fresh[-1]["sequence"]
                yield b"".join(frame(event) for event in fresh)
