"""Recording what a surface refuses before the pipeline runs.

Streams, reads and HTTP-level checks (no grant on ``/mcp``, an event type the grant does
not cover, a resource it may not listen to, another tenant's call record or approval,
an audit entry the grant may not read) refuse outside ``Gateway.call``; they are
recorded all the same, as a call named for what was asked, so every refusal is in the
call records and, once the grant's tenant is known, in that tenant's audit log.
"""

from __future__ import annotations

import logging
from typing import Any

from ..aio import raise_if_cancelled
from ..errors import AuthenticationError, ChamberlainError
from ..grants import Grant
from ..ids import trace_id_from_traceparent
from ..pipeline import Call, Gateway

__all__ = ["record_refusal", "recorded"]

log = logging.getLogger("chamberlain.surfaces")


async def record_refusal(
    gateway: Gateway,
    asked: str,
    arguments: Any,
    token: str | None,
    surface: str,
    error: ChamberlainError,
    *,
    grant: Grant | None = None,
    traceparent: str | None = None,
) -> Call:
    """Record ``error`` as the answer to ``asked``; the call (its ``id`` goes in the answer)."""
    call = Call(asked, arguments, token, surface, trace_id=trace_id_from_traceparent(traceparent))
    call.grant = grant if grant is not None else error.verified if isinstance(error, AuthenticationError) else None
    await gateway.refuse(call, error)
    return call


async def recorded(
    gateway: Gateway,
    asked: str,
    token: str | None,
    surface: str,
    error: ChamberlainError,
    *,
    grant: Grant | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """Record ``error`` (unless something on the way, the approval desk, did already) and
    return the problem members that name its record: ``{"call_id": ...}``. What was asked
    is named, not its arguments: a probe of another tenant's ids leaves only its own
    refusal behind. If the database cannot take the record (an outage), the refusal is
    still answered, without a record to name: the refusal matters more than its trace."""
    if error.recorded_call is None:
        try:
            await record_refusal(gateway, asked, None, token, surface, error, grant=grant, traceparent=traceparent)
        except Exception:
            raise_if_cancelled()
            log.exception("the refusal of %s (%s) could not be recorded", asked[:200], error.code)
            return {}
    return {"call_id": error.recorded_call} if error.recorded_call else {}
