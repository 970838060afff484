"""The Gateway: one pipeline and the read paths beside it, shared by every surface.

Surfaces (MCP, REST, CLI, console) hold a Gateway and only translate their
protocol in and out; no rule is written in a surface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..actions import Action, Surface
from ..errors import AuditEntryNotFound, CallNotFound, ChamberlainError, GrantWrongTenant, PermissionDenied
from ..grants import Grant, GrantAuthority
from ..limits import Limiter, MemoryLimiter, TenantLimits
from ..store import Store, tenant_scope
from ..tenants import tenant_exists
from ..timeutil import utc_now
from ._call import Call, Outcome
from ._idempotency import CheckIdempotency, IdempotencyKeys
from ._limits import CheckLimits
from ._records import list_records, read_record, record_outcome, summarize
from ._reverts import CheckRevert, ResolveRevert, revert_state
from ._stage import Stage, chain
from ._stages import Authenticate, AuthorizeGrant, Execute, RecordCalls, ResolveTenant, ValidateInput

READ_ALL_CALLS = "calls.read"
"""The right that lets a grant read every call record of its tenant (an auditor's grant)."""
READ_AUDIT = "audit.read"
"""The right that lets a grant read every entry of its tenant's audit log; without it a
grant reads only the entries of its own calls (to prove them), and any grant of the
tenant reads the log's checkpoints and consistency proofs."""


@runtime_checkable
class JudgesApproval(Protocol):
    """A policy stage that can say, before a call, whether it may be parked for a human."""

    async def approval_for(self, tenant: str | None, action: Action, principal: str) -> dict[str, Any]: ...


class Gateway:
    def __init__(
        self,
        surface: Surface,
        store: Store,
        authority: GrantAuthority,
        *,
        action_timeout_s: float = 30.0,
        stages: Sequence[Stage] | None = None,
        policy: Stage | None = None,
        approvals: Any = None,
        audit: Any = None,
        tracer: Any = None,
        events: Any = None,
        idempotency: IdempotencyKeys | None = None,
        limiter: Limiter | None = None,
        tenant_limits: TenantLimits | None = None,
        observer: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.surface = surface
        self.store = store
        self.authority = authority
        self.approvals = approvals
        """The approvals store, when the gateway parks calls (a record then shows its approval)."""
        self.audit = audit
        """The audit log (``chamberlain.audit.AuditLog``), when the gateway serves it."""
        self._known_tenants: set[str] = set()
        self.events = events
        """The ``EventHub`` handlers emit through (``ctx.emit``) and streams read from."""
        self.execute = Execute(self.store, action_timeout_s, events, surface)
        self.idempotency = idempotency or IdempotencyKeys(store, ttl_s=86_400)
        self.limiter: Limiter = limiter or MemoryLimiter()
        self.tenant_limits = tenant_limits or TenantLimits(store, refresh_s=5.0)
        self.observer = observer
        """Told every outcome (metrics); it must not raise or block."""
        self.policy = policy
        """The policy stage, when policies judge calls (discovery asks it about approval)."""
        self.stages: list[Stage] = list(stages) if stages is not None else self.default_stages(policy)
        self.tracer = tracer
        """An OpenTelemetry ``Tracer`` when tracing is on (a span per call and per stage)."""
        self._run = chain(self.stages, tracer)

    def default_stages(self, policy: Stage | None = None) -> list[Stage]:
        """The order every call takes; RecordCalls stays first. ``policy`` judges a call
        the grant allowed (the tenant's Cedar policies, in a full runtime)."""
        return [
            RecordCalls(self.store),
            Authenticate(self.authority),
            ResolveTenant(self._tenant_exists),
            ResolveRevert(self.surface, self.store),
            CheckLimits(self.surface, self.limiter, self.store, self.tenant_limits),
            ValidateInput(self.surface),
            AuthorizeGrant(self.authority),
            CheckRevert(self.store, self.authority.audience),
            CheckIdempotency(self.idempotency),
            *([policy] if policy is not None else []),
            self.execute,
        ]

    async def _tenant_exists(self, tenant: str) -> bool:
        if tenant in self._known_tenants:
            return True
        if await tenant_exists(self.store, tenant):
            self._known_tenants.add(tenant)
            return True
        return False

    async def call(self, call: Call) -> Outcome:
        outcome = await self._run(call)
        if self.observer is not None:
            self.observer(outcome)
        return outcome

    async def refuse(self, call: Call, error: ChamberlainError) -> Outcome:
        """Record a refusal a surface made outside the pipeline (HTTP-level checks, reads)."""
        outcome = Outcome(call, error=error)
        await record_outcome(self.store, outcome)
        error.recorded_call = call.id
        return outcome

    async def authenticate(self, token: str | None, requested_tenant: str | None = None) -> Grant:
        """For read paths (listing actions, reading records): the same grant check, and,
        as on every call, a request that names another tenant than the grant's is refused."""
        grant = await self.authority.verify(token)
        if requested_tenant is not None and requested_tenant != grant.tenant:
            refusal = GrantWrongTenant("grant belongs to another tenant than the one requested")
            refusal.verified = grant  # recorded in the grant's own tenant
            raise refusal
        return grant

    def actions_for(self, grant: Grant) -> list[Action]:
        """Least privilege in discovery too: an agent sees what its grant covers."""
        now = utc_now()
        visible = []
        for action in self.surface:
            try:
                grant.authorize(action.name, self.authority.audience, now)
            except PermissionDenied:
                continue
            visible.append(action)
        return visible

    async def approval_for(self, grant: Grant | None, action: Action) -> dict[str, Any]:
        """Whether calls of ``action`` can wait for a human, under the grant's tenant's
        policies (or the default policies, for ``None``)."""
        if not isinstance(self.policy, JudgesApproval):
            return {"required": "never"}  # nothing here parks calls
        tenant, principal = (grant.tenant, grant.acting.id) if grant is not None else (None, "")
        return await self.policy.approval_for(tenant, action, principal)

    async def describe(self, grant: Grant) -> list[dict[str, Any]]:
        """The actions the grant may call, as ``GET /v1/actions`` shows them: contracts, risk,
        limits, idempotency, reversibility and whether a human may have to approve."""
        return [{**a.describe(), "approval": await self.approval_for(grant, a)} for a in self.actions_for(grant)]

    async def record(self, grant: Grant, call_id: str) -> dict[str, Any]:
        """A call's record, for the grant that made it (or one derived from it), or for a
        grant that holds ``calls.read`` in the same tenant. Anything else looks absent."""
        with tenant_scope(grant.tenant):
            return await self._record(grant, call_id)

    async def _record(self, grant: Grant, call_id: str) -> dict[str, Any]:
        record = await read_record(self.store, grant.tenant, call_id)
        readable = record is not None and (
            record["grant_id"] == grant.id or grant.in_scope(READ_ALL_CALLS, self.authority.audience, utc_now())
        )
        if not readable:
            raise CallNotFound(f"no call {call_id[:64]!r} visible to this grant")
        assert record is not None
        if record["approval_id"] is not None and self.approvals is not None:
            record["approval"] = await self.approvals.by_call(grant.tenant, call_id)
        action = self.surface.get(record["action"])
        if action is not None and action.undo is not None and record["outcome"] == "ok":
            state = await revert_state(self.store, grant.tenant, call_id)
            if state is not None:  # it ran after its undo was declared: it can be reverted
                record["revert"] = {"action": action.undo.action, **state}
        if self.audit is not None:
            record["audit_entries"] = await self.audit.indexes_of_call(grant.tenant, call_id)
        return record

    async def records(self, grant: Grant, **filters: Any) -> list[dict[str, Any]]:
        """The tenant's call records (``list_records`` filters), for a ``calls.read`` grant."""
        self._require_calls_read(grant)
        with tenant_scope(grant.tenant):
            return await list_records(self.store, grant.tenant, **filters)

    async def summary(self, grant: Grant, since: str) -> dict[str, Any]:
        self._require_calls_read(grant)
        with tenant_scope(grant.tenant):
            return await summarize(self.store, grant.tenant, since)

    def _require_calls_read(self, grant: Grant) -> None:
        if not grant.in_scope(READ_ALL_CALLS, self.authority.audience, utc_now()):
            raise PermissionDenied(f"reading the tenant's calls needs a grant with {READ_ALL_CALLS!r}")

    def reads_audit(self, grant: Grant) -> bool:
        return grant.in_scope(READ_AUDIT, self.authority.audience, utc_now())

    async def audit_entry(self, grant: Grant, index: int, *, proof: bool) -> dict[str, Any]:
        """One entry of the grant's tenant log (with its inclusion proof if asked): any
        entry for an ``audit.read`` grant, else only entries about the grant's own calls."""
        with tenant_scope(grant.tenant):
            found = await (self.audit.inclusion(grant.tenant, index) if proof else self.audit.entry(grant.tenant, index))
        if not self.reads_audit(grant) and found["entry"].get("grant_id") != grant.id:
            raise AuditEntryNotFound(f"no entry {index} visible to this grant")
        return dict(found)

    async def audit_checkpoint(self, grant: Grant) -> str:
        """The newest signed checkpoint (a C2SP note) of the grant's tenant log: public to
        every grant of the tenant, since it reveals only the log's size and root."""
        with tenant_scope(grant.tenant):
            return (await self.audit.checkpoint(grant.tenant)).note

    async def audit_consistency(self, grant: Grant, size1: int, size2: int | None) -> dict[str, Any]:
        """Proof that the tenant's log of ``size1`` is a prefix of it at ``size2`` (hashes only)."""
        with tenant_scope(grant.tenant):
            return await self.audit.consistency(grant.tenant, size1, size2)

    async def audit_key(self, grant: Grant) -> str:
        """The log's verifier key, as C2SP tools read it."""
        return str(await self.audit.verifier(grant.tenant))

    async def audit_search(
        self, grant: Grant, *, kind: str | None, call_id: str | None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Entries by kind and/or call, newest first, for an ``audit.read`` grant."""
        self._require_audit_read(grant)
        with tenant_scope(grant.tenant):
            return await self.audit.search(grant.tenant, kind=kind, call_id=call_id, limit=limit)

    def _require_audit_read(self, grant: Grant) -> None:
        if not self.reads_audit(grant):
            raise PermissionDenied(f"reading the audit log needs a grant with {READ_AUDIT!r}")

    async def audit_entries(self, grant: Grant, start: int, limit: int) -> list[dict[str, Any]]:
        self._require_audit_read(grant)
        with tenant_scope(grant.tenant):
            return list(await self.audit.entries(grant.tenant, start, limit))
