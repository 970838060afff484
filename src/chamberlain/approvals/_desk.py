"""The approver's side, shared by REST, the CLI and the console: one set of rules.

Whoever presents a grant acts as the grant's acting principal. Listing and deciding
need the approver role in the grant's tenant; the agent that asked may read its own
approval. A decision that completes an approval runs the call at once; every
refused attempt is recorded like any other refusal.

A role is only as good as the identity it is checked against. The principal of a grant's
authority block is the gateway's word; a sub-agent named by an attenuation block
(``delegated_to``, or an OAuth token exchange's ``actor``) is its holder's word, and any
holder may write any name there. So a delegated grant never acts as an approver, and
nobody in the approver's own chain (whom it acts for) may be in the requester's.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApproverRequired, ChamberlainError
from ..grants import Grant
from ..pipeline import Call, Gateway
from ..store import tenant_scope
from ._roles import APPROVER
from ._runner import ApprovedCalls
from ._service import Approvals


class ApprovalDesk:
    def __init__(self, gateway: Gateway, approvals: Approvals, runner: ApprovedCalls | None) -> None:
        self.gateway = gateway
        self.approvals = approvals
        self.runner = runner

    async def _require_approver(self, grant: Grant) -> None:
        _vouched(grant)
        if not await self.approvals.roles.has(grant.tenant, grant.acting.id, APPROVER):
            raise ApproverRequired(f"{grant.acting.id} does not hold the approver role in tenant {grant.tenant}")

    async def query(self, grant: Grant, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with tenant_scope(grant.tenant):
            await self._require_approver(grant)
            return await self.approvals.query(grant.tenant, status, limit)

    async def show(self, grant: Grant, approval_id: str) -> dict[str, Any]:
        with tenant_scope(grant.tenant):
            row = await self.approvals.row(grant.tenant, approval_id)
            if row["grant_id"] != grant.id:
                await self._require_approver(grant)
            return await self.approvals.view(row)

    async def decide(
        self, grant: Grant, approval_id: str, *, approve: bool, reason: str, expected_hash: str | None, surface: str
    ) -> dict[str, Any]:
        """An approver with a grant (REST, console): decide, and run the call if that completes it."""
        call = Call(f"approvals.{'approve' if approve else 'reject'}", {"approval_id": approval_id}, None, surface)
        call.grant = grant
        with tenant_scope(grant.tenant):
            view = await self._decide(call, approval_id, approve, reason, expected_hash)
            if view["status"] == "approved" and self.runner is not None:
                await self.runner.run(await self.approvals.row(grant.tenant, approval_id))
                view = await self.approvals.show(grant.tenant, approval_id)
        return view

    async def decide_as_operator(
        self, tenant: str, principal: str, approval_id: str, *, approve: bool, reason: str, expected_hash: str | None
    ) -> dict[str, Any]:
        """An approver at the CLI, named by the operator. The call is left for the gateway to
        run (it serves the action; the CLI does not), which its sweep does within a second."""
        call = Call(f"approvals.{'approve' if approve else 'reject'}", {"approval_id": approval_id}, None, "cli")
        call.operator = (tenant, principal)
        return await self._decide(call, approval_id, approve, reason, expected_hash)

    async def _decide(
        self, call: Call, approval_id: str, approve: bool, reason: str, expected_hash: str | None
    ) -> dict[str, Any]:
        assert call.tenant is not None and call.principal is not None
        try:
            chain: list[str] = []
            if call.grant is not None:
                _vouched(call.grant)
                chain = call.grant.chain[1:]  # whom the approver acts for, and the approver
            return await self.approvals.decide(
                call.tenant,
                approval_id,
                call.principal,
                approve=approve,
                reason=reason,
                expected_hash=expected_hash,
                approver_chain=chain,
            )
        except ChamberlainError as err:
            await self.gateway.refuse(call, err)
            raise


def _vouched(grant: Grant) -> None:
    """Refuse a grant whose acting principal the gateway never vouched for."""
    if grant.delegates:
        raise ApproverRequired(
            f"{grant.acting.id} was named by an attenuation block of grant {grant.id}, which its holder writes; "
            "approvers decide with a grant issued to them",
            grant_id=grant.id,
        )
