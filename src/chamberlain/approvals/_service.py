"""Parked calls and the humans who decide them.

A call that policy marks for approval is *parked*: its validated arguments, the
hash that binds them, and its grant (sealed with the master key) are stored with
the call record, in one transaction. Approvers then decide:

* only principals holding the ``approver`` role in the tenant, never anyone in the
  requesting call's delegation chain;
* each approver once; one rejection closes the approval; N distinct approvals
  (the policy's ``@approvers``) make it ``approved``;
* a decision can name the request hash the approver saw, and is refused if the
  request has changed since.

Every state change is a conditional update (``WHERE status = 'pending'``), so two
approvers racing, or two gateway processes, cannot both close or run an approval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update

from .. import audit
from ..canonical import digest
from ..errors import (
    ApprovalAlreadyGiven,
    ApprovalClosed,
    ApprovalNotFound,
    ApprovalRequestChanged,
    ApproverInChain,
    ApproverRequired,
)
from ..events import emit_if
from ..grants import KeyRing
from ..ids import new_call_id
from ..store import Store, Transaction, approval_votes, approvals, calls, tenant_transaction
from ..timeutil import utc_now
from ._roles import APPROVER, Roles

OPEN = "pending"
CLOSED = ("rejected", "expired", "executed", "failed")


def new_approval_id() -> str:
    return "apr_" + new_call_id().removeprefix("call_")


def request_hash(tenant: str, action: str, version: int, grant_id: str, arguments: dict[str, Any]) -> str:
    """What an approval binds to: this action, at this version, with exactly these arguments, for this grant."""
    return digest({"tenant": tenant, "action": action, "version": version, "grant": grant_id, "arguments": arguments})


class Approvals:
    def __init__(self, store: Store, keys: KeyRing, roles: Roles, *, default_ttl_s: float = 86_400) -> None:
        self.store = store
        self.keys = keys
        self.roles = roles
        self.default_ttl_s = default_ttl_s
        self.events: Any = None
        """The ``EventHub`` that announces approvals requested and decided (set by the runtime)."""

    def new_row(
        self,
        *,
        call_id: str,
        tenant: str,
        action: str,
        version: int,
        principal: str,
        grant_id: str,
        chain: list[str],
        arguments: dict[str, Any],
        token: str,
        policies: list[str],
        why: list[str],
        required: int,
        surface: str,
        trace_id: str,
        ttl_s: float | None,
    ) -> dict[str, Any]:
        now = utc_now()
        return {
            "id": new_approval_id(),
            "tenant_id": tenant,
            "call_id": call_id,
            "action": action,
            "action_version": version,
            "principal": principal,
            "grant_id": grant_id,
            "chain": chain,
            "arguments": arguments,
            "request_hash": request_hash(tenant, action, version, grant_id, arguments),
            "policies": policies,
            "why": why,
            "required": required,
            "status": OPEN,
            "surface": surface,
            "trace_id": trace_id,
            "token_enc": self.keys.seal(token.encode()),
            "created_at": now.isoformat(timespec="microseconds"),
            "deadline": (now + timedelta(seconds=ttl_s or self.default_ttl_s)).isoformat(timespec="microseconds"),
            "closed_at": None,
            "result": None,
            "error": None,
        }

    async def park(self, tx: Transaction, row: dict[str, Any]) -> None:
        await tx.insert(approvals, row)
        await self.announce(tx, row, "requested", {"why": row["why"], "approvals_required": row["required"]})

    async def announce(self, tx: Transaction, row: dict[str, Any], status: str, more: dict[str, Any] | None = None) -> None:
        """``approval.<status>`` about the parked call (the waiting agent's cue)."""
        data = {"approval_id": row["id"], "call_id": row["call_id"], "action": row["action"], "status": status, **(more or {})}
        await emit_if(
            self.events,
            tx,
            row["tenant_id"],
            f"approval.{status}",
            data,
            subject=f"calls/{row['call_id']}",
            call_id=row["call_id"],
        )

    async def row(self, tenant: str, approval_id: str) -> dict[str, Any]:
        found = await self.store.fetch_one(
            select(approvals).where(approvals.c.id == approval_id, approvals.c.tenant_id == tenant)
        )
        if found is None:
            raise ApprovalNotFound(f"no approval {approval_id[:64]!r} in this tenant")
        return dict(found)

    async def show(self, tenant: str, approval_id: str) -> dict[str, Any]:
        return await self.view(await self.row(tenant, approval_id))

    async def by_call(self, tenant: str, call_id: str) -> dict[str, Any] | None:
        found = await self.store.fetch_one(
            select(approvals).where(approvals.c.call_id == call_id, approvals.c.tenant_id == tenant)
        )
        return None if found is None else await self.view(dict(found))

    async def query(self, tenant: str, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = select(approvals).where(approvals.c.tenant_id == tenant)
        if status is not None:
            query = query.where(approvals.c.status == status)
        rows = [
            dict(r)
            for r in await self.store.fetch_all(query.order_by(approvals.c.created_at.desc()).limit(max(1, min(limit, 500))))
        ]
        votes = await self._votes_of([r["id"] for r in rows])  # one query for the page, not one per approval
        return [_view(r, votes.get(r["id"], [])) for r in rows]

    async def votes(self, approval_id: str) -> list[dict[str, Any]]:
        return (await self._votes_of([approval_id])).get(approval_id, [])

    async def _votes_of(self, approval_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        if not approval_ids:
            return {}
        rows = await self.store.fetch_all(
            select(approval_votes).where(approval_votes.c.approval_id.in_(approval_ids)).order_by(approval_votes.c.decided_at)
        )
        by_id: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_id.setdefault(r["approval_id"], []).append(dict(r))
        return by_id

    async def view(self, row: dict[str, Any]) -> dict[str, Any]:
        """The approval as approvers, the requesting agent and the CLI see it (never the sealed grant)."""
        return _view(row, await self.votes(row["id"]))

    async def decide(
        self,
        tenant: str,
        approval_id: str,
        approver: str,
        *,
        approve: bool,
        reason: str,
        expected_hash: str | None = None,
        approver_chain: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Record one approver's decision; returns the approval as it now stands.
        ``approver_chain`` is whom the approver acts for (its grant's chain): none of them
        may be in the requesting call's chain either."""
        row = await self.row(tenant, approval_id)
        if not await self.roles.has(tenant, approver, APPROVER):
            raise ApproverRequired(f"{approver} does not hold the approver role in tenant {tenant}")
        requesters = {*row["chain"], row["principal"]}
        if approver in requesters:
            raise ApproverInChain(f"{approver} is part of the requesting call's chain and cannot decide it")
        if any(who in requesters for who in approver_chain):
            raise ApproverInChain(f"{approver} acts for someone in the requesting call's chain and cannot decide it")
        if expected_hash is not None and expected_hash != row["request_hash"]:
            raise ApprovalRequestChanged(
                "the request differs from the one you reviewed; review it again", request_hash=row["request_hash"]
            )
        now = utc_now()
        if row["status"] == OPEN and datetime.fromisoformat(row["deadline"]) <= now:
            await self.expire_overdue(now)
            row = await self.row(tenant, approval_id)
        if row["status"] != OPEN:
            raise ApprovalClosed(f"approval {approval_id} is {row['status']}", status=row["status"])
        async with tenant_transaction(self.store, tenant) as tx:
            await self._vote(tx, row, approver, approve, reason, now)
        return await self.show(tenant, approval_id)

    async def _vote(self, tx: Transaction, row: dict[str, Any], approver: str, approve: bool, reason: str, now: datetime) -> None:
        already = (
            await tx.execute(
                select(approval_votes.c.decision).where(
                    approval_votes.c.approval_id == row["id"], approval_votes.c.approver == approver
                )
            )
        ).first()
        if already is not None:
            raise ApprovalAlreadyGiven(f"{approver} has already decided approval {row['id']}")
        stamp = now.isoformat(timespec="microseconds")
        await tx.execute(
            insert(approval_votes).values(
                approval_id=row["id"],
                approver=approver,
                tenant_id=row["tenant_id"],
                decision="approve" if approve else "reject",
                reason=reason[:1000],
                request_hash=row["request_hash"],
                decided_at=stamp,
            )
        )
        await audit.append(
            tx,
            row["tenant_id"],
            "approval.voted",
            {
                "approval_id": row["id"],
                "call_id": row["call_id"],
                "approver": approver,
                "vote": "approve" if approve else "reject",
                "request_hash": row["request_hash"],
            },
            {"reason": reason[:1000]},
        )
        if not approve:
            await self._close(tx, row, "rejected", stamp, outcome="rejected")
            return
        approved = (
            await tx.execute(
                select(approval_votes.c.approver).where(
                    approval_votes.c.approval_id == row["id"], approval_votes.c.decision == "approve"
                )
            )
        ).all()
        if len(approved) >= row["required"]:
            await self._transition(tx, row, OPEN, "approved")

    async def _transition(self, tx: Transaction, row: dict[str, Any], old: str, new: str, **values: Any) -> None:
        """Move the approval from ``old`` to ``new`` (or fail if someone else moved it) and log it."""
        tenant, approval_id, call_id = row["tenant_id"], row["id"], row["call_id"]
        result = await tx.execute(
            update(approvals).where(approvals.c.id == approval_id, approvals.c.status == old).values(status=new, **values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ApprovalClosed(f"approval {approval_id} is no longer {old}")
        await audit.append(tx, tenant, f"approval.{new}", {"approval_id": approval_id, "call_id": call_id})
        await self.announce(tx, row, new)

    async def _close(self, tx: Transaction, row: dict[str, Any], status: str, stamp: str, *, outcome: str) -> None:
        """End a call that will not run: the approval and the call record say why."""
        await self._transition(tx, row, OPEN, status, closed_at=stamp, token_enc=None)
        await tx.execute(
            update(calls)
            .where(calls.c.id == row["call_id"], calls.c.tenant_id == row["tenant_id"])
            .values(decision="refused", outcome=outcome)
        )

    async def expire_overdue(self, now: datetime | None = None) -> int:
        """Close every pending approval past its deadline (any tenant); returns how many."""
        stamp = (now or utc_now()).isoformat(timespec="microseconds")
        rows = await self.store.fetch_all(
            select(approvals).where(and_(approvals.c.status == OPEN, approvals.c.deadline <= stamp))
        )
        closed = 0
        for row in rows:
            try:
                async with tenant_transaction(self.store, row["tenant_id"]) as tx:
                    await self._close(tx, dict(row), "expired", stamp, outcome="expired")
                closed += 1
            except ApprovalClosed:
                continue  # decided meanwhile
        return closed

    async def approved_not_run(self) -> list[dict[str, Any]]:
        rows = await self.store.fetch_all(select(approvals).where(approvals.c.status == "approved"))
        return [dict(r) for r in rows]


def _view(row: dict[str, Any], votes: list[dict[str, Any]]) -> dict[str, Any]:
    approved = [v["approver"] for v in votes if v["decision"] == "approve"]
    return {
        "id": row["id"],
        "tenant": row["tenant_id"],
        "call_id": row["call_id"],
        "status": row["status"],
        "action": row["action"],
        "action_version": row["action_version"],
        "arguments": row["arguments"],
        "request_hash": row["request_hash"],
        "requested_by": row["principal"],
        "chain": row["chain"],
        "grant_id": row["grant_id"],
        "policies": row["policies"],
        "why": row["why"],
        "approvals_required": row["required"],
        "approvals_given": len(approved),
        "created_at": row["created_at"],
        "deadline": row["deadline"],
        "closed_at": row["closed_at"],
        "steps": _steps(row, votes),
        **({"result": row["result"]} if row["result"] is not None else {}),
        **({"error": row["error"]} if row["error"] is not None else {}),
    }


def _steps(row: dict[str, Any], votes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What happened to the parked call, in order: requested, each decision, the end."""
    steps: list[dict[str, Any]] = [{"step": "requested", "at": row["created_at"], "by": row["principal"]}]
    for vote in votes:
        steps.append(
            {
                "step": "approved" if vote["decision"] == "approve" else "rejected",
                "at": vote["decided_at"],
                "by": vote["approver"],
                "reason": vote["reason"],
            }
        )
    if row["status"] in ("expired", "executed", "failed"):
        steps.append({"step": row["status"], "at": row["closed_at"]})
    return steps
