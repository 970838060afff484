"""Idempotency keys: a retried write runs at most once.

Follows the IETF ``Idempotency-Key`` header draft (draft-ietf-httpapi-idempotency-key-
header) the way Stripe and ACP apply it. A call that carries a key runs at most once per
(tenant, principal, action, key):

* the first one runs, and its outcome is written with the key **in the transaction of
  its effect** (the one that also writes its call record): the key's row exists if and
  only if the effect committed;
* a later one with the same arguments gets the stored outcome again, marked as a replay
  (``Idempotent-Replayed: true``), and nothing runs;
* the same key with other arguments is ``422 idempotency-key-reused``;
* while the first is still running, ``409 idempotency-key-in-use`` with ``Retry-After``.

"Still running" is known in the process that runs it, without a write: taking a key
costs one read, not a transaction of its own. Two processes that run the same key at
the same moment both run the handler, but only one can commit: the key's primary key
refuses the second row, which rolls the second effect back, and its caller is told
``idempotency-key-in-use`` (its retry gets the replay). A process that dies mid-call
committed nothing, so a retry simply runs.

What is stored: a result, a parked call's pending answer (so a retry never parks a
second approval), and the business's own refusal (``action-failed``): the answers a
retry must not change. Refusals before anything ran (policy) and server errors store
nothing: a retry runs afresh. Keys are kept for ``idempotency_ttl_s`` (24 hours by
default), then pruned.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete

from ..errors import (
    ActionFailed,
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
)
from ..store import DuplicateKey, Store, Transaction, idempotency_keys, in_every_database
from ..timeutil import utc_now
from ._call import Call, Outcome
from ._records import record_outcome
from ._stage import Next

__all__ = ["CheckIdempotency", "IdempotencyKeys", "onward_key"]

KEY = re.compile(r"[\x21-\x7e]{1,255}")
"""What a key may be: 1 to 255 visible ASCII characters (a UUID fits)."""


def _iso(at: Any) -> str:
    return str(at.isoformat(timespec="microseconds"))


Scope = tuple[str, str, str, str]
"""(tenant, principal, action, key)"""


@dataclass(frozen=True)
class Claim:
    """A key this call holds while it runs; settled where its outcome is recorded."""

    keys: IdempotencyKeys
    scope: Scope
    fingerprint: str
    call_id: str
    expired: bool = False
    """An expired row of this key is still there (pruning is periodic): replace it."""

    async def settle(self, tx: Transaction, outcome: Outcome) -> None:
        await self.keys.settle(tx, self, outcome)


class IdempotencyKeys:
    def __init__(self, store: Store, *, ttl_s: float, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        """Wall time, read for expiry; tests pass their own rather than sleep past a TTL."""
        self._running: dict[Scope, str] = {}
        """Keys whose call is running in this process, and that call's id."""

    async def claim(self, call: Call, key: str) -> Claim | dict[str, Any]:
        """The key for ``call`` (a ``Claim``, to ``release`` once its outcome is recorded),
        or the stored row of the call that already ran with it (to replay). Raises when
        it is running or was used with other arguments."""
        assert call.grant is not None and call.action is not None and call.input_hash is not None
        scope: Scope = (call.grant.tenant, call.grant.acting.id, call.action.name, key)
        row = await self.store.get(idempotency_keys, _key(scope))
        if row is not None and row["expires_at"] > _iso(self.clock()):
            if row["fingerprint"] != call.input_hash:
                raise IdempotencyKeyReused(
                    f"idempotency key {key[:64]!r} was first used for {call.action.name} with other arguments",
                    first_call_id=row["call_id"],
                )
            return row
        running = self._running.get(scope)
        if running is not None:
            raise _in_use(call.action.name, running)
        self._running[scope] = call.id  # no await since the read: no other task got here first
        return Claim(self, scope, call.input_hash, call.id, expired=row is not None)

    def release(self, claim: Claim) -> None:
        if self._running.get(claim.scope) == claim.call_id:
            del self._running[claim.scope]

    async def settle(self, tx: Transaction, claim: Claim, outcome: Outcome) -> None:
        """Store the outcome with the key in ``tx`` (or nothing, see the module's rules).
        Raises ``IdempotencyKeyInUse`` if another process stored this key first, which
        rolls ``tx``, and so this call's effect, back."""
        response = storable(outcome)
        if response is None:
            return
        now = self.clock()
        if claim.expired:
            await tx.execute(delete(idempotency_keys).where(_mine(claim.scope), idempotency_keys.c.expires_at <= _iso(now)))
        row = {
            **_key(claim.scope),
            "fingerprint": claim.fingerprint,
            "call_id": claim.call_id,
            "response": response,
            "created_at": _iso(now),
            "expires_at": _iso(now + timedelta(seconds=self.ttl_s)),
        }
        try:
            await tx.insert(idempotency_keys, row)
        except DuplicateKey as err:
            raise _in_use(claim.scope[2], None) from err

    async def prune(self) -> int:
        """Forget keys past their time; how many."""

        async def forget(tx: Transaction) -> int:
            result = await tx.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at <= _iso(self.clock())))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

        return await in_every_database(self.store, forget)


def onward_key(call: Call) -> str | None:
    """A key for the systems a keyed call reaches (a proxied upstream), the same on every
    retry of it: a process that dies after the upstream acted and before its own commit
    leaves no key here, so the retry runs again, and this lets the upstream answer it
    from its own record instead of acting twice. It names the key's whole scope without
    revealing the caller's key or who the caller is."""
    if call.idempotency_key is None or call.grant is None or call.action is None:
        return None
    scope = (call.grant.tenant, call.grant.acting.id, call.action.name, call.idempotency_key)
    return hashlib.sha256("\x1f".join(scope).encode()).hexdigest()[:40]


def _key(scope: Scope) -> dict[str, str]:
    return dict(zip(("tenant_id", "principal", "action", "key"), scope, strict=True))


def _mine(scope: Scope) -> Any:
    tenant, principal, action, key = scope
    c = idempotency_keys.c
    return and_(c.tenant_id == tenant, c.principal == principal, c.action == action, c.key == key)


def _in_use(action: str, first_call_id: str | None) -> IdempotencyKeyInUse:
    """Still running here (``first_call_id`` known), or finished first in another process."""
    if first_call_id is None:
        detail = f"another {action} call with this idempotency key finished first; nothing of this one was kept"
    else:
        detail = f"the first {action} call with this idempotency key is still running"
    return IdempotencyKeyInUse(f"{detail}; retry to get its outcome", first_call_id=first_call_id, retry_after=1)


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
            try:
                outcome = await next(call)
                if not outcome.recorded:  # hold the key until the outcome (and the key) are durable
                    await record_outcome(self.keys.store, outcome)
                return outcome
            finally:
                self.keys.release(found)
        call.reasons.append({"stage": self.name, "replay_of": found["call_id"]})
        return replayed(call, found)
