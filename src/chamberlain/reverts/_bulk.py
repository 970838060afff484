"""Reverting many calls at once: what a team does after a misbehaving agent.

``plan`` lists every call with an effect that one agent made in a time range and
says, for each, whether it can be reverted (nothing is changed: the dry run).
``execute`` then reverts the revertible ones, newest first (a compensation may rely
on the state later calls left, the way sagas unwind), each as an ordinary governed
call under a short-lived grant for the operator: policy, approval, limits and audit
apply to every one, and a revert that must wait for a human is parked, not forced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select

from ..errors import AlreadyReverted, NotReversible, RevertWindowClosed
from ..pipeline import REVERT_CALLS, Call, Gateway
from ..pipeline._reverts import revert_refusal
from ..store import calls, reversible_calls
from ..timeutil import utc_now

Status = Literal["revert", "reverted", "irreversible", "window-closed", "erased"]
OPERATOR_GRANT_TTL = timedelta(minutes=15)


@dataclass
class Planned:
    """One call of the agent with an effect, and what reverting it would do."""

    call_id: str
    action: str
    started_at: str
    status: Status
    detail: str
    revert_action: str | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    """After ``execute``: the revert call's id and what became of it."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def plan(
    gateway: Gateway, tenant: str, principal: str, since: datetime, until: datetime, actions: list[str] | None = None
) -> list[Planned]:
    """The agent's calls that ran with an effect in [since, until), newest first."""
    kept = reversible_calls.c
    query = (
        select(
            calls.c.id,
            calls.c.action,
            calls.c.started_at,
            kept.call_id.label("kept"),
            kept.reverted_by,
            kept.revert_until,
            kept.erased_at,
        )
        .select_from(calls.outerjoin(reversible_calls, (kept.tenant_id == calls.c.tenant_id) & (kept.call_id == calls.c.id)))
        .where(
            calls.c.tenant_id == tenant,
            calls.c.principal == principal,
            calls.c.outcome == "ok",
            calls.c.started_at >= since.isoformat(timespec="microseconds"),
            calls.c.started_at < until.isoformat(timespec="microseconds"),
        )
        .order_by(calls.c.started_at.desc(), calls.c.id.desc())
    )
    if actions:
        query = query.where(calls.c.action.in_(actions))
    now = utc_now()
    planned = []
    for row in await gateway.store.fetch_all(query):
        action = gateway.surface.get(row["action"])
        if action is not None and action.risk == "read":
            continue  # nothing happened that could need undoing
        planned.append(_judge(row, action.undo.action if action and action.undo else None, now))
    return planned


def _judge(row: Any, revert_action: str | None, now: datetime) -> Planned:
    call_id, name = row["id"], row["action"]
    base: dict[str, Any] = {"call_id": call_id, "action": name, "started_at": row["started_at"]}
    if row["kept"] is None or revert_action is None:
        why = "ran before its undo was declared" if revert_action else "declares no undo"
        return Planned(**base, status="irreversible", detail=f"{name} {why}")
    state = {"call_id": call_id, **{k: row[k] for k in ("reverted_by", "revert_until", "erased_at")}}
    refusal = revert_refusal(state, now)
    if refusal is None:
        return Planned(**base, status="revert", detail=f"will call {revert_action}", revert_action=revert_action)
    status: Status = _STATUS[type(refusal)]
    return Planned(**base, status=status, detail=refusal.detail, revert_action=revert_action)


_STATUS: dict[type, Status] = {AlreadyReverted: "reverted", RevertWindowClosed: "window-closed", NotReversible: "erased"}


async def execute(gateway: Gateway, tenant: str, operator: str, planned: list[Planned], reason: str) -> list[Planned]:
    """Revert every planned call whose status is ``revert``, newest first, as ``operator``."""
    todo = [p for p in planned if p.status == "revert"]
    if todo:
        token = await _operator_grant(gateway, tenant, operator, {p.revert_action for p in todo if p.revert_action})
        for item in todo:
            item.outcome = await _revert(gateway, token, item.call_id, reason)
    return planned


async def revert_one(gateway: Gateway, tenant: str, operator: str, call_id: str, reason: str) -> dict[str, Any]:
    """Revert one call as ``operator``. Whatever is wrong with it (unknown, irreversible,
    already reverted) is for the pipeline to refuse, so the refusal is recorded and audited."""
    row = await gateway.store.fetch_one(select(calls.c.action).where(calls.c.tenant_id == tenant, calls.c.id == call_id))
    action = gateway.surface.get(row["action"]) if row is not None else None
    rights = {action.undo.action} if action is not None and action.undo is not None else set()
    return await _revert(gateway, await _operator_grant(gateway, tenant, operator, rights), call_id, reason)


async def _operator_grant(gateway: Gateway, tenant: str, operator: str, revert_actions: set[str]) -> str:
    """A short grant for exactly these reverts (and others' calls): the operator holds no standing one."""
    grant = await gateway.authority.issue(tenant, operator, sorted(revert_actions | {REVERT_CALLS}), OPERATOR_GRANT_TTL)
    return grant.token


async def _revert(gateway: Gateway, token: str, call_id: str, reason: str) -> dict[str, Any]:
    call = Call(REVERT_CALLS, {"reason": reason}, token, "cli", revert_of=call_id)
    outcome = await gateway.call(call)
    done: dict[str, Any] = {"revert_call_id": call.id}
    if outcome.pending:
        return done | {"status": "pending_approval", "approval_id": (outcome.approval or {}).get("id")}
    if outcome.error is not None:
        return done | {"status": "refused", "problem": outcome.error.to_problem()}
    return done | {"status": "reverted", "result": outcome.result}
