"""Running an approved call: exactly once, with exactly the arguments approved.

The run re-checks everything that could have changed while the call was parked:
the action and its version, the arguments against the hash every approver bound
to, and the grant (its signature and revocation; its expiry is judged at the time
of the request, which it passed). The handler's effects, the call record and the
approval's ``executed`` state commit in one transaction guarded by
``WHERE status = 'approved'``: a second runner (another process, a retry after a
crash) finds nothing to do and its writes roll back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update

from .. import audit
from ..actions import Surface
from ..canonical import digest
from ..errors import ApprovalClosed, ApprovalRequestChanged, ChamberlainError, InternalError
from ..grants import GrantAuthority
from ..pipeline import Call, Execute, Outcome, audit_outcome, record_row
from ..store import Transaction, approvals, calls, tenant_scope, tenant_transaction
from ..timeutil import utc_now_iso
from ..tracing import continue_trace
from ._service import Approvals, request_hash

log = logging.getLogger("chamberlain.approvals")


class ApprovedCalls:
    def __init__(
        self,
        approvals_: Approvals,
        surface: Surface,
        authority: GrantAuthority,
        execute: Execute,
        tracer: Any = None,
        observer: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.approvals = approvals_
        self.surface = surface
        self.authority = authority
        self.execute = execute
        self.tracer = tracer
        """With tracing on, the approved run is a span in the parked call's own trace."""
        self._unserved: set[str] = set()
        self.observer = observer
        """Told ``(tenant, action, outcome)`` of each approved call this process ran (metrics)."""

    async def run(self, row: dict[str, Any]) -> None:
        """Run one approval in state ``approved``; a no-op if another runner got there first,
        or if this process does not serve the action (a CLI, another gateway's surface)."""
        if row["action"] not in self.surface:
            if row["id"] not in self._unserved:  # once, not on every sweep
                self._unserved.add(row["id"])
                log.warning("approved call %s needs %s, which this process does not serve", row["call_id"], row["action"])
            return
        with tenant_scope(row["tenant_id"]):  # the call runs as it would have: seeing its tenant only
            await self._traced(row)

    async def _traced(self, row: dict[str, Any]) -> None:
        if self.tracer is None:
            await self._run(row)
            return
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": row["action"],
            "gen_ai.tool.call.id": row["call_id"],
        }
        with self.tracer.start_as_current_span(
            f"execute_tool {row['action']}", context=continue_trace(row["trace_id"]), attributes=attributes
        ) as span:
            span.set_attribute("chamberlain.approval.id", row["id"])
            await self._run(row)

    async def _run(self, row: dict[str, Any]) -> None:
        try:
            call = await self._prepare(row)
        except ChamberlainError as err:
            await self._fail(row, err)
            self._observe(row, "refused")
            return
        try:
            outcome = await self.execute.run(call, lambda tx, out: self._executed(tx, row, out))
        except ApprovalClosed:
            return  # another runner ran it, and counted it
        if outcome.error is not None:
            await self._fail(row, outcome.error, outcome)
        self._observe(row, "ok" if outcome.error is None else "refused" if not outcome.executed else "error")

    def _observe(self, row: dict[str, Any], outcome: str) -> None:
        if self.observer is not None:
            self.observer(row["tenant_id"], row["action"], outcome)

    async def run_pending(self) -> int:
        """Run every approved call not yet run (after a restart, or approvals made by the CLI)."""
        rows = await self.approvals.approved_not_run()
        for row in rows:
            await self.run(row)
        return len(rows)

    async def _prepare(self, row: dict[str, Any]) -> Call:
        action = self.surface.get(row["action"])
        assert action is not None
        if action.version != row["action_version"]:
            raise ApprovalRequestChanged(f"{row['action']} v{row['action_version']} is no longer served; nothing was run")
        try:
            args = action.contract.input_model.model_validate(row["arguments"])
        except ValidationError as err:
            raise ApprovalRequestChanged("the stored arguments no longer fit the action; nothing was run") from err
        arguments = args.model_dump(mode="json")
        bound = request_hash(row["tenant_id"], action.name, action.version, row["grant_id"], arguments)
        votes = await self.approvals.votes(row["id"])
        if bound != row["request_hash"] or any(v["request_hash"] != bound for v in votes):
            raise ApprovalRequestChanged("the request is not the one that was approved; nothing was run")
        token = self.approvals.keys.unseal(row["token_enc"]).decode()
        grant = await self.authority.verify(token, now=datetime.fromisoformat(row["created_at"]))
        call = Call(
            action_name=action.name,
            arguments=row["arguments"],
            token=None,
            surface=row["surface"],
            trace_id=row["trace_id"],
            id=row["call_id"],
        )
        call.grant, call.action, call.args, call.input, call.input_hash = grant, action, args, arguments, digest(arguments)
        if action.reverts is not None:
            call.revert_of = arguments["call_id"]
        return call

    async def _executed(self, tx: Transaction, row: dict[str, Any], outcome: Outcome) -> None:
        result = await tx.execute(
            update(approvals)
            .where(approvals.c.id == row["id"], approvals.c.status == "approved")
            .values(status="executed", closed_at=utc_now_iso(), result=outcome.result, token_enc=None)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ApprovalClosed(f"approval {row['id']} was already run")
        await tx.execute(
            update(calls)
            .where(calls.c.id == row["call_id"], calls.c.tenant_id == row["tenant_id"])
            .values(decision="allowed", outcome="ok", result_hash=outcome.result_hash)
        )
        outcome.audit_index = await audit_outcome(tx, outcome, {**record_row(outcome), "approval_id": row["id"]})
        await self.approvals.announce(tx, row, "executed")  # the result is read through the call, by whoever may
        outcome.recorded = True

    async def _fail(self, row: dict[str, Any], error: ChamberlainError, outcome: Outcome | None = None) -> None:
        if isinstance(error, InternalError):
            log.error("approved call %s (%s) failed: %s", row["call_id"], row["action"], error.detail)
        executed = outcome is not None and outcome.executed
        async with tenant_transaction(self.approvals.store, row["tenant_id"]) as tx:
            result = await tx.execute(
                update(approvals)
                .where(approvals.c.id == row["id"], approvals.c.status == "approved")
                .values(status="failed", closed_at=utc_now_iso(), error=error.to_problem(), token_enc=None)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return
            await tx.execute(
                update(calls)
                .where(calls.c.id == row["call_id"], calls.c.tenant_id == row["tenant_id"])
                .values(
                    decision="allowed" if executed else "refused",
                    outcome="error" if executed else "refused",
                    error_type=error.type_uri,
                )
            )
            await audit.append(
                tx,
                row["tenant_id"],
                "call.executed" if executed else "call.refused",
                {
                    "call_id": row["call_id"],
                    "approval_id": row["id"],
                    "action": row["action"],
                    "decision": "allowed" if executed else "refused",
                    "outcome": "error" if executed else "refused",
                    "error_type": error.type_uri,
                },
            )
            await self.approvals.announce(tx, row, "failed", {"problem": error.to_problem()})
