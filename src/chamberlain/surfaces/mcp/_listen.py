"""``subscriptions/listen`` (MCP 2026-07-28): ``notifications/resources/updated`` for the
resources a client names, fed by the tenant's events.

A resource is updated when one of its tenant's events has it as subject: an event's
subject is a resource path (``orders/o_1``, ``calls/call_…``), and a resource's URI
is that path under a scheme (``shop://orders/o_1``, ``chamberlain://calls/call_…``).
So an agent whose call was parked for approval listens on ``chamberlain://calls/<id>``
and hears each step of the approval as it commits, then reads the record once.

A client may only listen to resources it may read: its own tenant's call records, and
resources of actions its grant covers. Listening is refused as a whole (before the
acknowledgement) if any named resource is not one of those, so a client never believes
it listens to something it does not. The grant is re-checked at every heartbeat; a
revoked or expired grant ends the stream with the same error a call would get. A
client that stops reading is cut off rather than buffered for without bound; the
notifications are level triggers, so it re-listens and reads again.

Earlier protocol revisions subscribe with ``resources/subscribe`` and receive on a
session's standing stream; Chamberlain runs stateless, so it serves only this form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY

from ...errors import ChamberlainError, InvalidInput, NotFound
from ...events import EventFilter
from ...grants import Grant
from ...pipeline import Gateway
from .._refusals import record_refusal
from ._resources import CALL_SCHEME, ResourceRoute

MAX_RESOURCES = 100
LISTEN = "subscriptions/listen"


class ResourceListener:
    """The ``subscriptions/listen`` handler for one MCP surface."""

    def __init__(
        self,
        gateway: Gateway,
        routes: list[ResourceRoute],
        grant_of: Callable[[ServerRequestContext[Any, Any]], Awaitable[Grant]],
        token_of: Callable[[ServerRequestContext[Any, Any]], str | None],
        heartbeat_s: float,
    ) -> None:
        self.gateway = gateway
        self.routes = routes
        self.grant_of = grant_of
        self.token_of = token_of
        self.heartbeat_s = heartbeat_s

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        if ctx.request_id is None:
            raise MCPError(types.INVALID_REQUEST, "subscriptions/listen requires a request id")
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: ctx.request_id}
        grant = await self.grant_of(ctx)
        uris = list(dict.fromkeys(params.notifications.resource_subscriptions or ()))
        try:
            by_subject = await self._subjects(grant, uris)
        except ChamberlainError as err:
            asked = {"resource_subscriptions": uris[:MAX_RESOURCES]}
            refused = await record_refusal(self.gateway, LISTEN, asked, self.token_of(ctx), "mcp", err, grant=grant)
            raise MCPError(types.INVALID_PARAMS, err.detail, err.to_problem(call_id=refused.id)) from err
        # Only resource updates are honored: the tool, prompt and resource lists of a
        # grant do not change while it lives.
        honored = types.SubscriptionFilter(resource_subscriptions=uris or None)
        hub = self.gateway.events
        async with hub.subscribe(grant.tenant, EventFilter(subjects=frozenset(by_subject))) as subscriber:
            await ctx.session.send_notification(
                types.SubscriptionsAcknowledgedNotification(
                    params=types.SubscriptionsAcknowledgedNotificationParams(notifications=honored, _meta=meta)
                ),
                related_request_id=ctx.request_id,
            )
            while not subscriber.overflowed:
                batch = await subscriber.next(self.heartbeat_s)
                if batch is None:
                    await self.grant_of(ctx)  # a long stream answers to revocation like every call does
                    continue
                # Updates are level triggers: one per resource per batch says it all.
                for uri in dict.fromkeys(uri for event in batch for uri in by_subject[event["subject"]]):
                    notification = types.ResourceUpdatedNotification(
                        params=types.ResourceUpdatedNotificationParams(uri=uri, _meta=meta)
                    )
                    await ctx.session.send_notification(notification, related_request_id=ctx.request_id)
        raise MCPError(
            types.INTERNAL_ERROR,
            f"more than {subscriber.limit} updates behind; listen again and read the resources afresh",
            {"code": "slow-consumer"},
        )

    async def _subjects(self, grant: Grant, uris: list[str]) -> dict[str, list[str]]:
        """The URIs by the event subject that updates them, once the grant is known to
        read every one of them."""
        if len(uris) > MAX_RESOURCES:
            raise InvalidInput(f"listen to at most {MAX_RESOURCES} resources per stream", count=len(uris))
        allowed = {a.name for a in self.gateway.actions_for(grant)}
        by_subject: dict[str, list[str]] = {}
        for uri in uris:
            if uri.startswith(CALL_SCHEME):
                try:
                    await self.gateway.record(grant, uri.removeprefix(CALL_SCHEME))
                except ChamberlainError as err:
                    err.extra["uri"] = uri
                    raise
            elif not any(route.action.name in allowed and route.match(uri) is not None for route in self.routes):
                raise NotFound(f"Resource not found: {uri}", uri=uri)
            by_subject.setdefault(uri.split("://", 1)[1], []).append(uri)
        return by_subject
