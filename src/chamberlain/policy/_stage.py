"""The policy stage: after the grant allowed the call, the tenant's Cedar policies decide.

``allow`` passes the call on, ``deny`` refuses it (naming the forbidding policies),
``require approval`` parks it: the call record and the approval are written in one
transaction and the agent is told at once how to follow it.
"""

from __future__ import annotations

from typing import Any

from ..actions import Action
from ..approvals import Approvals
from ..errors import PolicyDenied, PolicyInvalid
from ..pipeline import Call, Next, Outcome
from ..pipeline._records import write_record
from ..timeutil import utc_now
from ._book import PolicyBook
from ._engine import Decision, PolicyEngine, principal_of


class CheckPolicy:
    name = "policy"

    def __init__(self, book: PolicyBook, engine: PolicyEngine, approvals: Approvals) -> None:
        self.book = book
        self.engine = engine
        self.approvals = approvals

    async def __call__(self, call: Call, next: Next) -> Outcome:
        assert call.grant is not None and call.action is not None and call.input is not None
        tenant = call.grant.tenant
        try:
            policies = await self.book.current(tenant)
        except PolicyInvalid:
            call.reasons.append({"stage": self.name, "decision": "deny", "policies": [], "policy_error": "invalid"})
            return Outcome(
                call,
                error=PolicyDenied(
                    "this tenant's policies no longer validate against the declared actions; "
                    "every call is refused until an operator fixes them"
                ),
            )
        original = call.original["arguments"] if call.original is not None else None
        request = self.engine.request(
            tenant, principal_of(call.grant), call.action, call.input, call.surface, utc_now(), original
        )
        decision = self.engine.decide(policies, request, call.action.risk)
        call.reasons.append(decision.reason())
        if decision.effect == "deny":
            return Outcome(call, error=_denied(call.action.name, decision))
        if decision.effect == "require_approval":
            return await self._park(call, decision)
        return await next(call)

    async def approval_for(self, tenant: str | None, action: Action, principal: str) -> dict[str, Any]:
        """What the tenant's current policies say about approval for ``action`` (the default
        policies for ``tenant=None``): what discovery shows an agent before it calls."""
        try:
            policies = self.book.default if tenant is None else await self.book.current(tenant)
        except PolicyInvalid:  # every call is refused until an operator fixes them
            return {"required": "unknown"}
        return policies.approval(action.name, action.risk, principal)

    async def _park(self, call: Call, decision: Decision) -> Outcome:
        assert call.grant is not None and call.action is not None and call.input is not None and call.token is not None
        row = self.approvals.new_row(
            call_id=call.id,
            tenant=call.grant.tenant,
            action=call.action.name,
            version=call.action.version,
            principal=call.grant.acting.id,
            grant_id=call.grant.id,
            chain=call.grant.chain,
            arguments=call.input,
            token=call.token,
            policies=list(decision.policies),
            why=list(decision.why),
            required=decision.approvers,
            surface=call.surface,
            trace_id=call.trace_id,
            ttl_s=call.action.approval_ttl_s,
        )
        outcome = Outcome(call, approval=pending(row))
        async with self.approvals.store.transaction() as tx:
            await self.approvals.park(tx, row)
            await write_record(tx, outcome)
        return outcome


def pending(row: dict[str, Any]) -> dict[str, Any]:
    """What the agent is told at once about its parked call."""
    return {
        "id": row["id"],
        "status": row["status"],
        "action": row["action"],
        "arguments": row["arguments"],
        "request_hash": row["request_hash"],
        "why": row["why"],
        "policies": row["policies"],
        "approvals_required": row["required"],
        "deadline": row["deadline"],
        "follow": f"/v1/calls/{row['call_id']}",
    }


def _denied(action: str, decision: Decision) -> PolicyDenied:
    if decision.policies:
        detail = f"{action} is forbidden by policy {', '.join(decision.policies)}"
    else:
        detail = f"no policy of this tenant permits {action}"
    return PolicyDenied(detail, policies=list(decision.policies), policy_version=decision.version)
