"""Reverting a call: which call, whether it may be reverted, and reverting it once.

A revert is a call of the action ``<name>.revert`` that the original action's undo
declared, so grant, limits, policy, approval and audit all apply to it. What is
particular to it lives here:

* ``ResolveRevert`` turns "revert call X" (REST ``/v1/calls/{id}/revert``, the CLI)
  into a call of X's revert action, once the tenant is known;
* ``CheckRevert`` refuses, before policy or approval, a revert that could not run:
  an unknown call, one that did not run, one already reverted (or whose revert waits
  for approval), one past its window, or another agent's call without the
  ``calls.revert`` right;
* ``claim_original`` marks the original reverted inside the revert's transaction,
  guarded by ``reverted_by IS NULL``, so two reverts racing (or an approved revert
  run after another) cannot both commit;
* ``remember`` keeps what a compensation needs (arguments, result) for each call of
  a reversible action, in the call's own transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update

from ..actions import Action, Original, Surface
from ..errors import (
    AlreadyReverted,
    CallNotFound,
    ChamberlainError,
    NotReversible,
    PermissionDenied,
    RevertPending,
    RevertWindowClosed,
)
from ..store import Store, Transaction, approvals, calls, reversible_calls
from ..timeutil import utc_now
from ._call import Call, Outcome
from ._stage import Next

OPEN = ("pending", "approved")
"""Approvals that may still run their call."""
REVERT_CALLS = "calls.revert"
"""The right to revert any call of the grant's tenant (without it, an agent reverts only
its own calls); also the action name a revert asked for by call id carries until its
target's action is known."""


class ResolveRevert:
    """A revert asked for by call id becomes a call of that call's revert action."""

    name = "resolve-revert"

    def __init__(self, surface: Surface, store: Store) -> None:
        self._surface = surface
        self._store = store

    async def __call__(self, call: Call, next: Next) -> Outcome:
        if call.revert_of is None:
            return await next(call)
        assert call.tenant is not None
        call.revert_of = call.revert_of[:64]  # no call id is longer; the record keeps what was asked
        kept = await _kept(self._store, call.tenant, call.revert_of)
        if kept is not None:
            name = kept["action"]
            call.original = kept  # CheckRevert judges it; one read serves both
        else:
            row = await self._store.fetch_one(
                select(calls.c.action).where(calls.c.tenant_id == call.tenant, calls.c.id == call.revert_of)
            )
            if row is None:
                return Outcome(call, error=CallNotFound(f"no call {call.revert_of[:64]!r} in this tenant"))
            name = row["action"]
        action = self._surface.get(name)
        if action is None or action.undo is None:
            return Outcome(call, error=NotReversible(f"{name[:200]} declares no undo: its calls are final"))
        call.action_name = action.undo.action
        if isinstance(call.arguments, dict):  # anything else is refused by validation
            call.arguments = {**call.arguments, "call_id": call.revert_of}
        return await next(call)


class CheckRevert:
    """Refuse a revert that cannot run before anyone is asked to approve it."""

    name = "check-revert"

    def __init__(self, store: Store, audience: str) -> None:
        self._store = store
        self._audience = audience

    async def __call__(self, call: Call, next: Next) -> Outcome:
        action = call.action
        if action is None or action.reverts is None:
            return await next(call)
        assert call.grant is not None and call.input is not None
        tenant, target_id = call.grant.tenant, call.input["call_id"]
        call.revert_of = target_id
        target = call.original
        if target is None or target["call_id"] != target_id:
            target = call.original = await _kept(self._store, tenant, target_id)
        if target is None or target["action"] != action.reverts:
            return Outcome(call, error=await self._not_reversible(tenant, target_id, action))
        now = utc_now()
        # A sub-agent's name is written by whoever attenuated the grant: it makes a call
        # "its own" only within the grant it was made with, never another agent's of that name.
        own = target["principal"] == call.grant.acting.id and (not call.grant.delegates or target["grant_id"] == call.grant.id)
        if not own and not call.grant.in_scope(REVERT_CALLS, self._audience, now):
            return Outcome(call, error=PermissionDenied(f"reverting another agent's calls needs the {REVERT_CALLS!r} right"))
        refusal = revert_refusal(target, now) or await self._waiting(tenant, target_id, action)
        if refusal is not None:
            return Outcome(call, error=refusal)
        call.reasons.append({"stage": self.name, "reverts": target_id, "action": action.reverts})
        return await next(call)

    async def _waiting(self, tenant: str, target_id: str, action: Action) -> RevertPending | None:
        """Another revert of the same call parked for a human: a second would only fail later."""
        open_ones = await self._store.fetch_all(
            select(approvals.c.id, approvals.c.arguments).where(
                approvals.c.tenant_id == tenant, approvals.c.action == action.name, approvals.c.status.in_(OPEN)
            )
        )
        waiting = next((row["id"] for row in open_ones if row["arguments"].get("call_id") == target_id), None)
        if waiting is None:
            return None
        return RevertPending(f"a revert of call {target_id} waits for approval {waiting}", approval_id=waiting)

    async def _not_reversible(self, tenant: str, call_id: str, action: Action) -> ChamberlainError:
        row = await self._store.fetch_one(
            select(calls.c.action, calls.c.decision, calls.c.outcome).where(calls.c.tenant_id == tenant, calls.c.id == call_id)
        )
        if row is None:
            return CallNotFound(f"no call {call_id[:64]!r} in this tenant")
        if row["action"] != action.reverts:
            return NotReversible(f"call {call_id} is a call of {row['action'][:200]}; {action.name} reverts {action.reverts}")
        if row["outcome"] != "ok":
            return NotReversible(f"call {call_id} did not run ({row['decision']}, {row['outcome']}): nothing to revert")
        return NotReversible(f"call {call_id} ran before {action.reverts} declared its undo")


# Built once: composing SQLAlchemy expressions costs more than running them on SQLite.
_KEPT = select(reversible_calls).where(
    reversible_calls.c.tenant_id == bindparam("tenant"), reversible_calls.c.call_id == bindparam("target")
)
_CLAIM = (
    update(reversible_calls)
    .where(
        reversible_calls.c.tenant_id == bindparam("tenant"),
        reversible_calls.c.call_id == bindparam("target"),
        reversible_calls.c.action == bindparam("reverted"),
        reversible_calls.c.reverted_by.is_(None),
        reversible_calls.c.erased_at.is_(None),
        or_(reversible_calls.c.revert_until.is_(None), reversible_calls.c.revert_until > bindparam("now")),
    )
    .values(reverted_by=bindparam("by"), reverted_at=bindparam("at"))
)


async def _kept(store: Store, tenant: str, call_id: str) -> dict[str, Any] | None:
    """What is kept of a reversible call that ran, or None."""
    row = await store.fetch_one(_KEPT, {"tenant": tenant, "target": call_id})
    return {column.name: row[column.name] for column in reversible_calls.columns} if row is not None else None


async def revert_state(store: Store, tenant: str, call_id: str) -> dict[str, Any] | None:
    """How a reversible call stands (what a record shows): until when it can be reverted,
    and by which call it was, if it was."""
    kept = await _kept(store, tenant, call_id)
    return {name: kept[name] for name in ("revert_until", "reverted_by", "reverted_at")} if kept else None


def revert_refusal(target: dict[str, Any], now: datetime) -> ChamberlainError | None:
    """Why a reversible call can no longer be reverted, if it cannot."""
    if target["erased_at"] is not None:
        return NotReversible(f"call {target['call_id']} can no longer be reverted: its data was erased at {target['erased_at']}")
    if target["reverted_by"] is not None:
        return AlreadyReverted(
            f"call {target['call_id']} was reverted by {target['reverted_by']}", reverted_by=target["reverted_by"]
        )
    until = target["revert_until"]
    if until is not None and datetime.fromisoformat(until) <= now:
        return RevertWindowClosed(f"call {target['call_id']} could be reverted until {until}", revert_until=until)
    return None


async def claim_original(tx: Transaction, call: Call, reverted: Action) -> Original:
    """Mark the call's target reverted by this call, in its transaction, and hand back
    what the compensation needs. The update only matches a target still open to a revert,
    so a revert that raced this one, an erasure or a window that closed meanwhile (an
    approval can take a while) refuses it. ``reverted`` is the action whose call this reverts."""
    assert call.grant is not None and call.action is not None and call.input is not None
    tenant, target_id = call.grant.tenant, call.input["call_id"]
    now = utc_now()
    stamp = now.isoformat(timespec="microseconds")
    params = {"tenant": tenant, "target": target_id, "reverted": reverted.name, "by": call.id, "now": stamp, "at": stamp}
    claimed = await tx.execute(_CLAIM, params)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        row = await tx.get(reversible_calls, {"tenant_id": tenant, "call_id": target_id})
        refusal = revert_refusal(row, now) if row is not None else None
        raise refusal or NotReversible(f"call {target_id} cannot be reverted by {call.action.name}")
    # What CheckRevert read stands: only an erasure changes it, and the update excluded that.
    row = (
        call.original
        if call.original is not None
        else await tx.get(reversible_calls, {"tenant_id": tenant, "call_id": target_id})
    )
    assert row is not None
    return Original(
        call_id=target_id,
        action=row["action"],
        principal=row["principal"],
        executed_at=datetime.fromisoformat(row["executed_at"]),
        arguments=row["arguments"],
        args=reverted.contract.input_model.model_validate(row["arguments"]),
        result=row["result"],
        reason=call.input.get("reason"),
    )


async def remember(tx: Transaction, outcome: Outcome) -> None:
    """Keep what the action's compensation will need, with the call that ran."""
    call = outcome.call
    assert call.grant is not None and call.action is not None and call.action.undo is not None
    now = utc_now()
    window = call.action.undo.window
    await tx.insert(
        reversible_calls,
        {
            "tenant_id": call.grant.tenant,
            "call_id": call.id,
            "action": call.action.name,
            "principal": call.grant.acting.id,
            "grant_id": call.grant.id,
            "arguments": call.input,
            "result": outcome.result,
            "executed_at": now.isoformat(timespec="microseconds"),
            "revert_until": (now + window).isoformat(timespec="microseconds") if window else None,
            "reverted_by": None,
            "reverted_at": None,
            "erased_at": None,
        },
    )
