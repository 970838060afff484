"""A call on its way through the pipeline, and the outcome it comes back with."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import ChamberlainError
from ..ids import new_call_id, new_trace_id
from ..timeutil import utc_now

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..actions import Action
    from ..grants import Grant


@dataclass
class Call:
    """Filled in stage by stage; what is set when it stops is what the record says."""

    action_name: str
    arguments: Any
    token: str | None
    surface: str
    trace_id: str = field(default_factory=new_trace_id)
    traceparent: str | None = None
    """The agent's W3C ``traceparent``, when it sent one: the parent of the call's span."""
    requested_tenant: str | None = None
    transport_error: ChamberlainError | None = None
    """Set by a surface when the request body was unusable; refused at validation."""
    id: str = field(default_factory=new_call_id)
    started_at: datetime = field(default_factory=utc_now)
    clock: float = field(default_factory=time.perf_counter)
    grant: Grant | None = None
    action: Action | None = None
    args: BaseModel | None = None
    input: dict[str, Any] | None = None
    """The validated arguments as JSON (what grants' constraints and policies judge)."""
    input_hash: str | None = None
    operator: tuple[str, str] | None = None
    """(tenant, principal) of an operator acting in-process (the CLI), who holds no grant."""
    reasons: list[dict[str, Any]] = field(default_factory=list)
    marks: list[tuple[str, float]] = field(default_factory=list)
    span_context: Any = None
    """With tracing on, the OpenTelemetry context of the call's span (stage spans' parent)."""
    idempotency_key: str | None = None
    """The caller's ``Idempotency-Key`` (REST header, MCP ``_meta``), if it sent one."""
    idempotency: Any = None
    """The key this call holds while it runs (settled where its outcome is recorded)."""
    limit: Any = None
    """The rate limit this call was counted against and what is left of it (``LimitState``)."""
    revert_of: str | None = None
    """For a revert: the id of the call it reverts (set by the caller, or from the arguments)."""
    original: dict[str, Any] | None = None
    """For a revert that passed its checks: what is kept of the call it reverts."""

    def timings(self) -> dict[str, float]:
        """Milliseconds spent in each stage entered so far, up to now.

        A stage's time runs from its entry to the next stage's entry (the last one's
        to now). Stages do their work before calling the next one, so this is exact
        enough to show where a call spent its time, and it is known inside the
        transaction that writes the record.
        """
        if not self.marks:
            return {}
        now = time.perf_counter()
        ends = [t for _, t in self.marks[1:]] + [now]
        return {name: round((end - start) * 1000, 4) for (name, start), end in zip(self.marks, ends, strict=True)}

    def elapsed_s(self) -> float:
        """Seconds since the call arrived."""
        return time.perf_counter() - self.clock

    @property
    def tenant(self) -> str | None:
        if self.grant is not None:
            return self.grant.tenant
        return self.operator[0] if self.operator else None

    @property
    def principal(self) -> str | None:
        if self.grant is not None:
            return self.grant.acting.id
        return self.operator[1] if self.operator else None


@dataclass
class Outcome:
    call: Call
    result: Any = None
    error: ChamberlainError | None = None
    result_hash: str | None = None
    recorded: bool = False

    executed: bool = False
    approval: dict[str, Any] | None = None
    """Set when policy parked the call for a human: the approval as the agent sees it."""
    audit_index: int | None = None
    """The index of the call's entry in its tenant's audit log, once written."""
    replay_of: str | None = None
    """Set when this is a stored outcome given again for an idempotency key: the id of
    the call that ran. The caller is shown that id; this call is recorded as a replay."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def pending(self) -> bool:
        return self.approval is not None and not self.executed

    @property
    def shown_id(self) -> str:
        """The call id the caller is given: the one that ran, for a replay."""
        return self.replay_of or self.call.id

    @property
    def decision(self) -> str:
        """``allowed`` once every check passed, even if the handler then failed."""
        if self.replay_of is not None:
            return "replayed"
        if self.pending:
            return "parked"
        return "refused" if self.error is not None and not self.executed else "allowed"
