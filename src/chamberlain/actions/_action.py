"""An action: a named, versioned operation with contracts and a risk class."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..limits import Rate
from ._contract import Contract
from ._risk import mcp_hints
from ._undo import Undo

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Action:
    name: str
    version: int
    risk: str
    description: str
    handler: Handler
    contract: Contract
    idempotent: bool | None = None
    title: str | None = None
    resource: str | None = None
    mime_type: str | None = None
    approval_ttl_s: float | None = None
    """How long a call parked for approval waits before it expires (default: the gateway's)."""
    rate: Rate | None = None
    """At most this many calls per window for each (tenant, agent), e.g. ``10/minute``."""
    quota: Rate | None = None
    """At most this many calls that ran or were parked, per sliding window, for each
    (tenant, agent), e.g. ``100/day``: counted from the call records, so it outlives restarts."""
    idempotency_key: str | None = None
    """``"required"`` or ``"optional"``; unset, ``money`` actions require one."""
    undo: Undo | None = None
    """Set when the action declared a compensation (``@action.undo``): how to revert its calls."""
    reverts: str | None = None
    """Set on a revert action: the name of the action whose calls it reverts."""

    @property
    def requires_idempotency_key(self) -> bool:
        """Whether a call must carry an idempotency key: a retried money movement must
        never move money twice, so those do unless declared otherwise."""
        if self.idempotency_key is None:
            return self.risk == "money"
        return self.idempotency_key == "required"

    @property
    def hints(self) -> dict[str, bool]:
        return mcp_hints(self.risk, self.idempotent)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    def reversibility(self) -> dict[str, Any] | bool:
        """``False`` for an action whose calls cannot be reverted (agents must treat them
        as final); else the revert action to call and the window to call it in."""
        return self.undo.describe() if self.undo is not None else False

    def describe(self) -> dict[str, Any]:
        """The agent-facing description served by ``GET /v1/actions``."""
        return {
            "name": self.name,
            "version": self.version,
            "title": self.title or self.name,
            "description": self.description,
            "risk": self.risk,
            "hints": self.hints,
            "input_schema": self.contract.input_schema,
            "output_schema": self.contract.output_schema,
            "limits": {
                **({"rate": str(self.rate)} if self.rate else {}),
                **({"quota": str(self.quota)} if self.quota else {}),
            },
            "idempotency_key": "required" if self.requires_idempotency_key else "optional",
            "reversible": self.reversibility(),
            **({"reverts": self.reverts} if self.reverts else {}),
            **({"resource": self.resource} if self.resource else {}),
        }
