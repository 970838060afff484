"""Call records: the data every later concern (audit, events, console) reads.

A record is written for every call, allowed or refused, and with it the entry in
the tenant's audit log. For an executed call both are written inside the call's own
transaction, so there is never an effect without its record and entry, nor a record
or entry without its effect.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from .. import audit
from ..store import Store, Transaction, calls, tenant_transaction
from ._call import Outcome

ENTRY_KINDS = {"refused": "call.refused", "parked": "call.parked", "allowed": "call.executed", "replayed": "call.replayed"}
_ENTRY_FIELDS = (
    "trace_id",
    "surface",
    "principal",
    "on_behalf_of",
    "grant_id",
    "action",
    "action_version",
    "decision",
    "outcome",
    "error_type",
    "reasons",
    "approval_id",
)


def record_row(outcome: Outcome) -> dict[str, Any]:
    call = outcome.call
    grant = call.grant
    error = outcome.error
    return {
        "id": call.id,
        "tenant_id": call.tenant,
        "principal": call.principal,
        "on_behalf_of": grant.acting.on_behalf_of if grant else None,
        "grant_id": grant.id if grant else None,
        "surface": call.surface,
        "action": call.action_name[:200],
        "action_version": call.action.version if call.action else None,
        "input_hash": call.input_hash,
        "decision": outcome.decision,
        "reasons": call.reasons,
        "outcome": _outcome(outcome),
        "error_type": error.type_uri if error else None,
        "result_hash": outcome.result_hash,
        "timings": call.timings(),
        "trace_id": call.trace_id,
        "started_at": call.started_at.isoformat(timespec="microseconds"),
        "duration_ms": round((time.perf_counter() - call.clock) * 1000, 4),
        "approval_id": outcome.approval["id"] if outcome.approval else None,
        "revert_of": call.revert_of,
    }


def _outcome(outcome: Outcome) -> str:
    if outcome.replay_of is not None:
        return "replayed"
    if outcome.pending:
        return "pending"
    if outcome.error is None:
        return "ok"
    return "refused" if outcome.decision == "refused" else "error"


async def write_record(tx: Transaction, outcome: Outcome) -> None:
    row = record_row(outcome)
    await tx.insert(calls, row)
    if outcome.call.idempotency is not None:  # the key's outcome commits with the call's
        await outcome.call.idempotency.settle(tx, outcome)
    # Last: from the tenant's log lock to the commit, nothing else waits in line.
    outcome.audit_index = await audit_outcome(tx, outcome, row)
    outcome.recorded = True


async def audit_outcome(tx: Transaction, outcome: Outcome, row: dict[str, Any] | None = None) -> int | None:
    """Append the call's entry to its tenant's log. A refusal before any tenant was known
    (no grant, a forged one) has no tenant log to go to: its call record holds it."""
    row = row or record_row(outcome)
    tenant = row["tenant_id"]
    if tenant is None:
        return None
    call = outcome.call
    contract = call.action.contract if call.action is not None else None
    payload: dict[str, Any] = {}
    if contract is not None and call.input is not None:
        payload["arguments"] = contract.audit_input(call.input)
    if contract is not None and outcome.executed and outcome.error is None:
        payload["result"] = contract.audit_output(outcome.result)
    fields = {"call_id": row["id"], **{name: row[name] for name in _ENTRY_FIELDS}}
    if row["revert_of"] is not None:  # a revert's entry names the call it reverts
        fields["revert_of"] = row["revert_of"]
    return await audit.append(tx, tenant, ENTRY_KINDS[row["decision"]], fields, payload)


async def record_outcome(store: Store, outcome: Outcome) -> None:
    """Record an outcome in a transaction of its own (refusals, failures)."""
    async with tenant_transaction(store, outcome.call.tenant) as tx:
        await write_record(tx, outcome)


def public_record(row: dict[str, Any]) -> dict[str, Any]:
    """The record as ``GET /v1/calls/{id}`` shows it."""
    return {
        "id": row["id"],
        "tenant": row["tenant_id"],
        "principal": row["principal"],
        "on_behalf_of": row["on_behalf_of"],
        "grant_id": row["grant_id"],
        "surface": row["surface"],
        "action": row["action"],
        "action_version": row["action_version"],
        "input_hash": row["input_hash"],
        "decision": row["decision"],
        "reasons": row["reasons"],
        "outcome": row["outcome"],
        "error_type": row["error_type"],
        "result_hash": row["result_hash"],
        "timings_ms": row["timings"],
        "duration_ms": row["duration_ms"],
        "trace_id": row["trace_id"],
        "started_at": row["started_at"],
        "approval_id": row["approval_id"],
        "revert_of": row["revert_of"],
    }


async def read_record(store: Store, tenant: str, call_id: str) -> dict[str, Any] | None:
    """Only the tenant's own records: the tenant filter is part of the query."""
    row = await store.fetch_one(select(calls).where(calls.c.id == call_id, calls.c.tenant_id == tenant))
    return public_record(dict(row)) if row is not None else None


async def list_records(
    store: Store,
    tenant: str,
    *,
    principal: str | None = None,
    action: str | None = None,
    decision: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The tenant's call records, newest first (call ids sort by time), filtered;
    ``before``/``after`` are call ids, for pages and for what came since."""
    query = select(calls).where(calls.c.tenant_id == tenant)
    for column, value in ((calls.c.principal, principal), (calls.c.action, action), (calls.c.decision, decision)):
        if value:
            query = query.where(column == value)
    if before:
        query = query.where(calls.c.id < before)
    if after:
        query = query.where(calls.c.id > after)
    rows = await store.fetch_all(query.order_by(calls.c.id.desc()).limit(limit))
    return [public_record(dict(r)) for r in rows]


async def summarize(store: Store, tenant: str, since: str) -> dict[str, Any]:
    """Counts since ``since`` (ISO time): by decision and outcome, by agent, by action,
    and per hour, for the console's overview."""
    rows = await store.fetch_all(
        select(calls.c.principal, calls.c.action, calls.c.decision, calls.c.outcome, calls.c.started_at).where(
            calls.c.tenant_id == tenant, calls.c.started_at >= since
        )
    )
    totals: dict[str, int] = {}
    agents: dict[str, int] = {}
    actions: dict[str, int] = {}
    hours: dict[str, dict[str, int]] = {}
    for r in rows:
        kind = "refused" if r["decision"] == "refused" else "error" if r["outcome"] == "error" else "ok"
        totals[kind] = totals.get(kind, 0) + 1
        agents[r["principal"]] = agents.get(r["principal"], 0) + 1
        actions[r["action"]] = actions.get(r["action"], 0) + 1
        hour = hours.setdefault(str(r["started_at"])[:13], {})
        hour[kind] = hour.get(kind, 0) + 1

    def top(counts: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]

    return {"calls": len(rows), "totals": totals, "agents": top(agents), "actions": top(actions), "hours": hours}
