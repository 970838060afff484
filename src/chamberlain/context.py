"""What a handler may know about the call it serves.

A handler asks for it by declaring a parameter annotated ``Context``; it is
injected, never part of the action's input contract, so agents cannot forge it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
