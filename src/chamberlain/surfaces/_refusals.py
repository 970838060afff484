"""Recording what a surface refuses before the pipeline runs.

Streams and HTTP-level checks (no grant on ``/mcp``, an event type the grant does not
cover, a resource it may not listen to) refuse outside ``Gateway.call``; they are
recorded all the same, as a call named for what was asked, so every refusal is in the
call records and, once the grant's tenant is known, in that tenant's audit log.
"""

from __future__ import annotations

from typing import Any

from ..errors import AuthenticationError, ChamberlainError
from ..grants import Grant
from ..ids import trace_id_from_traceparent
from ..pipeline import Call, Gateway

__all__ = ["record_refusal"]


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
