"""Idempotency keys: a retried write runs at most once.

Follows the IETF ``Idempotency-Key`` header draft (draft-ietf-httpapi-idempotency-key-
header) the way Stripe and ACP apply it. A call that carries a key runs at most once per
(tenant, principal, action, key):

* the first one claims the key and runs; its outcome is stored **in the transaction of
  its effect** (the same one as its call record), so a crash can never leave an effect
  without its key or a key without its effect;
* a later one with the same arguments gets the stored outcome again, marked as a replay
  (``Idempotent-Replayed: true``), and nothing runs;
* the same key with other arguments is ``422 idempotency-key-reused``;
* while the first is still running, ``409 idempotency-key-in-use`` with ``Retry-After``.

What is stored: a result, a parked call's pending answer (so a retry never parks a
second approval), and the business's own refusal (``action-failed``): the answers a
retry must not change. Refusals before anything ran (policy) and server errors are not
stored: the key is released in the same transaction and a retry runs afresh. A claim
whose process died is taken over once its lease (the action timeout and a margin) ends.
Keys are kept for ``idempotency_ttl_s`` (24 hours by default), then pruned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, update

from ..errors import (
    ActionFailed,
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
)
from ..store import Store, Transaction, idempotency_keys
from ..timeutil import utc_now
from ._call import Call, Outcome
from ._stage import Next

__all__ = ["CheckIdempotency", "IdempotencyKeys"]

KEY = re.compile(r"[\x21-\x7e]{1,255}")
"""What a key may be: 1 to 255 visible ASCII characters (a UUID fits)."""


def _iso(at: Any) -> str:
    return str(at.isoformat(timespec="microseconds"))


@dataclass(frozen=True)
class Claim:
    """A key this call holds while it runs; settled where its outcome is recorded."""

    keys: IdempotencyKeys
    scope: tuple[str, str, str, str]
    """(tenant, principal, action, key)"""
    call_id: str

    async def settle(self, tx: Transaction, outcome: Outcome) -> None:
        await self.keys.settle(tx, self, outcome)


class IdempotencyKeys:
    def __init__(self, store: Store, *, ttl_s: float, lease_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.lease_s = lease_s

    async def claim(self, call: Call, key: str) -> Claim | dict[str, Any]:
        """The key for ``call`` (a ``Claim``), or the stored row of the call that already
        ran with it (to replay). Raises when it is in use or was used with other arguments."""
        assert call.grant is not None and call.action is not None and call.input_hash is not None
        scope = (call.grant.tenant, call.grant.acting.id, call.action.name, key)
        now = utc_now()
        async with self.store.transaction() as tx:
            row = await tx.get(idempotency_keys, _key(scope))
            if row is None or row["expires_at"] <= _iso(now) or _abandoned(row, now):
                fresh = {
                    **_key(scope),
                    "fingerprint": call.input_hash,
                    "status": "running",
                    "call_id": call.id,
                    "response": None,
                    "locked_until": _iso(now + timedelta(seconds=self.lease_s)),
                    "created_at": _iso(now),
                    "expires_at": _iso(now + timedelta(seconds=self.ttl_s)),
                }
                await (tx.insert if row is None else tx.upsert)(idempotency_keys, fresh)
                return Claim(self, scope, call.id)
        if row["fingerprint"] != call.input_hash:
            raise IdempotencyKeyReused(
                f"idempotency key {key[:64]!r} was first used for {call.action.name} with other arguments",
                first_call_id=row["call_id"],
            )
        if row["status"] == "running":
            raise IdempotencyKeyInUse(
                f"the first {call.action.name} call with this idempotency key is still running",
                first_call_id=row["call_id"],
                retry_after=1,
            )
        return dict(row)

    async def settle(self, tx: Transaction, claim: Claim, outcome: Outcome) -> None:
        """Store the outcome with the key, or release the key (see the module's rules)."""
        mine = and_(*(idempotency_keys.c[k] == v for k, v in _key(claim.scope).items()))
        mine = and_(mine, idempotency_keys.c.call_id == claim.call_id)  # not one taken over since
        response = storable(outcome)
        if response is None:
            await tx.execute(delete(idempotency_keys).where(mine))
        else:
            await tx.execute(update(idempotency_keys).where(mine).values(status="done", response=response))

    async def prune(self) -> int:
        """Forget keys past their time; how many."""
        async with self.store.transaction() as tx:
            result = await tx.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at <= _iso(utc_now())))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _key(scope: tuple[str, str, str, str]) -> dict[str, str]:
    return dict(zip(("tenant_id", "principal", "action", "key"), scope, strict=True))


def _abandoned(row: Any, now: Any) -> bool:
    return bool(row["status"] == "running" and row["locked_until"] <= _iso(now))


def storable(outcome: Outcome) -> dict[str, Any] | None:
    """What a retry with the same key is answered, or None if it should run again."""
    if outcome.pending:
        return {"kind": "pending", "approval": outcome.approval}
    if outcome.executed and outcome.error is None:
        return {"kind": "ok", "result": outcome.result, "result_hash": outcome.result_hash}
    if outcome.executed and isinstance(outcome.error, ActionFailed):
        return {"kind": "refused", "detail": outcome.error.detail, "extra": outcome.error.extra}
    return None


def replayed(call: Call, row: dict[str, Any]) -> Outcome:
    """The stored outcome again, as an outcome of this (recorded, not run) call."""
    response = row["response"]
    outcome = Outcome(call, replay_of=row["call_id"])
    if response["kind"] == "ok":
        outcome.result, outcome.result_hash = response["result"], response["result_hash"]
    elif response["kind"] == "pending":
        outcome.approval = response["approval"]
    else:
        outcome.error = ActionFailed(response["detail"], **response["extra"])
    return outcome


class CheckIdempotency:
    """After the grant allowed the action and before policy: a keyed call runs once."""

    name = "idempotency"

    def __init__(self, keys: IdempotencyKeys) -> None:
        self.keys = keys

    async def __call__(self, call: Call, next: Next) -> Outcome:
        key = call.idempotency_key
        if key is None:
            assert call.action is not None
            if call.action.requires_idempotency_key:
                return Outcome(call, error=IdempotencyKeyRequired(f"{call.action.name} must be called with an idempotency key"))
            return await next(call)
        if not KEY.fullmatch(key):
            return Outcome(call, error=IdempotencyKeyInvalid("an idempotency key is 1 to 255 visible ASCII characters"))
        try:
            found = await self.keys.claim(call, key)
        except (IdempotencyKeyInUse, IdempotencyKeyReused) as err:
            call.reasons.append({"stage": self.name, "refused": err.code, "first_call_id": err.extra["first_call_id"]})
            return Outcome(call, error=err)
        if isinstance(found, Claim):
            call.idempotency = found
            return await next(call)
        call.reasons.append({"stage": self.name, "replay_of": found["call_id"]})
        return replayed(call, found)
