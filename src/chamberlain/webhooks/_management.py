"""Managing webhooks through the pipeline: ``webhooks.register`` and friends.

They are governed actions like ``grants.issue``: REST, MCP and the CLI share them,
and every registration, removal and replay is authorized, policy-checked and audited.
A webhook is a push subscription, so it follows the stream's rule: a grant can
register an endpoint only for event types it could subscribe to itself
(``events.<type>``). The types are fixed at registration; event types declared later
need a new endpoint (and a grant that covers them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ..actions import SECRET, Surface
from ..context import Context
from ..errors import ActionError, ChamberlainError
from ..events import authorized_types
from ..timeutil import utc_now
from ._service import Webhooks
from ._targets import TargetForbidden

__all__ = ["webhook_surface"]

EndpointId = Annotated[str, Field(pattern=r"^wh_[0-9A-Z]{26}$")]
DeliveryId = Annotated[str, Field(pattern=r"^whd_[0-9A-Z]{26}$")]


class Endpoint(BaseModel):
    id: str
    url: str
    types: list[str]
    description: str
    created_by: str
    created_at: str
    removed_at: str | None = None


class RegisteredEndpoint(Endpoint):
    secret: str = Field(json_schema_extra=SECRET)
    """The Standard Webhooks signing secret (``whsec_...``); shown this once."""


class Endpoints(BaseModel):
    endpoints: list[Endpoint]


class Removed(BaseModel):
    endpoint_id: str
    cancelled_deliveries: int


class Attempt(BaseModel):
    n: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: float


class Delivery(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "dead", "cancelled"]
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    replay_of: str | None
    created_at: str
    closed_at: str | None
    attempt_log: list[Attempt] | None = None


class Deliveries(BaseModel):
    deliveries: list[Delivery]


class Replayed(BaseModel):
    deliveries: list[str]


def webhook_surface(webhooks: Webhooks, known_types: Any, audience: str) -> Surface:
    """``known_types()`` gives the event types there are (declared and the gateway's)."""
    surface = Surface("chamberlain-webhooks", description="Register webhook endpoints and follow their deliveries.")

    @surface.action("webhooks.register", risk="write")
    async def register(
        url: Annotated[str, Field(min_length=8, max_length=2048)],
        types: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(min_length=1, max_length=64)],
        ctx: Context,
        description: Annotated[str, Field(max_length=500)] = "",
    ) -> RegisteredEndpoint:
        """Send the tenant's events of ``types`` (names or ``prefix.*``, within your grant's
        ``events.<type>``) to ``url``, signed per Standard Webhooks with the returned secret."""
        try:
            chosen = authorized_types(ctx.grant, types, known_types(), audience, utc_now())
            endpoint, secret = await webhooks.register(ctx.tx, ctx.tenant, url, chosen, ctx.principal.id, description)
        except ChamberlainError as err:
            raise ActionError(err.detail, code=err.code, **err.extra) from err
        except TargetForbidden as err:
            raise ActionError(str(err), code="webhook-target-forbidden") from err
        except ValueError as err:
            raise ActionError(str(err), code="webhook-url-invalid") from err
        return RegisteredEndpoint(**endpoint, secret=secret)

    @surface.action("webhooks.list", risk="read")
    async def list_endpoints(ctx: Context) -> Endpoints:
        """The tenant's live webhook endpoints (never their secrets)."""
        return Endpoints(endpoints=[Endpoint(**e) for e in await webhooks.endpoints(ctx.tenant)])

    @surface.action("webhooks.remove", risk="write")
    async def remove(endpoint_id: EndpointId, ctx: Context) -> Removed:
        """Stop sending to an endpoint; deliveries still waiting for it are cancelled."""
        try:
            cancelled = await webhooks.remove(ctx.tx, ctx.tenant, endpoint_id)
        except LookupError as err:
            raise ActionError(f"no webhook endpoint {endpoint_id!r} in this tenant", code="webhook-not-found") from err
        return Removed(endpoint_id=endpoint_id, cancelled_deliveries=cancelled)

    @surface.action("webhooks.deliveries", risk="read")
    async def deliveries(
        ctx: Context,
        endpoint_id: EndpointId | None = None,
        status: Literal["pending", "delivered", "dead", "cancelled"] | None = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
    ) -> Deliveries:
        """Deliveries, newest first; ``status="dead"`` is the dead-letter list."""
        found = await webhooks.deliveries(ctx.tenant, endpoint_id=endpoint_id, status=status, limit=limit)
        return Deliveries(deliveries=[Delivery(**d) for d in found])

    @surface.action("webhooks.delivery", risk="read")
    async def delivery(delivery_id: DeliveryId, ctx: Context) -> Delivery:
        """One delivery with every attempt: when, the status code or error, how long it took."""
        try:
            return Delivery(**await webhooks.delivery(ctx.tenant, delivery_id))
        except LookupError as err:
            raise ActionError(f"no webhook delivery {delivery_id!r} in this tenant", code="delivery-not-found") from err

    @surface.action("webhooks.replay", risk="write")
    async def replay(ctx: Context, delivery_id: DeliveryId | None = None, endpoint_id: EndpointId | None = None) -> Replayed:
        """Send again: one finished delivery, or every dead delivery of an endpoint."""
        if (delivery_id is None) == (endpoint_id is None):
            raise ActionError("give delivery_id or endpoint_id (one of them)", code="replay-target")
        made = await webhooks.replay(ctx.tx, ctx.tenant, delivery_id=delivery_id, endpoint_id=endpoint_id)
        if delivery_id is not None and not made:
            raise ActionError(
                f"no finished delivery {delivery_id!r} of a live endpoint in this tenant", code="delivery-not-found"
            )
        return Replayed(deliveries=made)

    return surface
