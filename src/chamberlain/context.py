"""What a handler may know about the call it serves.

A handler asks for it by declaring a parameter annotated ``Context``; it is
injected, never part of the action's input contract, so agents cannot forge it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .grants import Grant, Principal
    from .store import Transaction

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    tenant: str
    principal: Principal
    call_id: str
    trace_id: str
    tx: Transaction
    """The call's own transaction: writes here commit together with the call record."""
    grant: Grant
    """The verified grant the call was made with (its chain, constraints and expiry)."""
    traceparent: str = ""
    """The W3C ``traceparent`` to send upstream, so the upstream's spans join the call's trace."""
    events: Any = None
    """Where ``emit`` writes (the gateway's ``EventHub``); None where nothing publishes events."""
    idempotency_key: str | None = None
    """For the systems this call reaches: stable across the caller's retries of it (derived
    from its ``Idempotency-Key`` and scope), None when the caller sent no key."""

    async def emit(self, type: str, data: Any = None, *, subject: str | None = None) -> dict[str, Any]:
        """Emit a domain event (declared with ``surface.event``) in the call's transaction:
        subscribers get it once the call commits, and never if it rolls back. Returns the
        CloudEvents envelope (its ``id`` is stable: consumers dedupe on it)."""
        if self.events is None:
            raise RuntimeError("this gateway does not publish events")
        return dict(
            await self.events.emit(
                self.tx, self.tenant, type, data, subject=subject, traceparent=self.traceparent, call_id=self.call_id
            )
        )
